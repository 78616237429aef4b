"""normalize-dataset: rewrite every row's text with a named normalizer."""

from __future__ import annotations

from typing import Annotated

import typer

from bonepick.cli.app import command
from bonepick.cli.options import (
    CompressionLevel,
    InputDirs,
    NumProc,
    OutputDir,
    Overwrite,
    TextExpression,
)
from bonepick.data.normalizers import ALIASES, NORMALIZERS  # light: no tokenizer is loaded here

_NAMES = ", ".join(NORMALIZERS) + "; " + ", ".join(f"{a} = {b}" for a, b in ALIASES.items())


@command("data")
def normalize_dataset(
    input_dir: InputDirs,
    output_dir: OutputDir,
    normalizer: Annotated[
        str,
        typer.Option(
            "-n", "--normalizer", help=f"Normalizer: {_NAMES} (`_` or `-` alike).", show_default=False
        ),
    ],
    text_expression: TextExpression = ".text",
    compression_level: CompressionLevel = None,
    num_proc: NumProc = None,
    overwrite: Overwrite = False,
) -> None:
    """Normalize the text of every row, the way a model trained with that normalizer sees it.

    The normalized text replaces the field the text expression names (`.text`, `.meta.body`);
    an expression that computes the text (`.title + " " + .body`) stores its result as `text`.
    All other fields are kept; splits and shard names mirror the input. Outputs match bonepick
    0.5.0's normalizers, except for the fixes listed in the normalizers guide.
    """
    from bonepick.cli.common import finish, stage_options
    from bonepick.data.normalize import normalize_dataset as run
    from bonepick.data.normalizers import canonical_name

    name = canonical_name(normalizer)
    summary = run(
        input_dir,
        output_dir,
        name,
        text_expression=text_expression,
        compression_level=compression_level,
        **stage_options(num_proc, overwrite),
    )
    finish(output_dir, summary, "normalize-dataset", extra={"normalizer": name})
