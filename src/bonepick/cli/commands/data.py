"""Data preparation commands."""

from __future__ import annotations

from typing import Annotated

import typer

from bonepick.cli.app import command
from bonepick.cli.options import (
    Compression,
    CompressionLevel,
    InputDirs,
    NumProc,
    OutputDir,
    Overwrite,
    TextExpression,
    check_num_proc,
    parse_compression,
)


@command("data")
def copy_dataset(
    input_dir: InputDirs,
    output_dir: OutputDir,
    compression: Compression = "zst",
    compression_level: CompressionLevel = None,
    num_proc: NumProc = None,
    overwrite: Overwrite = False,
) -> None:
    """Copy datasets shard by shard, checking every row and (re)compressing.

    The output mirrors the input's splits and file names; several inputs land in sub-folders named
    after them. A rerun skips shards that are already complete.
    """
    from bonepick.cli.common import finish, progress
    from bonepick.data.copy import copy_dataset as run

    summary = run(
        input_dir,
        output_dir,
        compression=parse_compression(compression),
        compression_level=compression_level,
        num_proc=check_num_proc(num_proc),
        overwrite=overwrite,
        progress=progress(),
    )
    finish(output_dir, summary, "copy-dataset")


@command("data")
def convert_to_fasttext(
    input_dir: InputDirs,
    output_dir: OutputDir,
    normalizer: Annotated[
        str,
        typer.Option(
            "-n", "--normalizer", help="Text normalizer applied before writing ('none' to keep text as is)."
        ),
    ] = "whitespace",
    text_expression: TextExpression = ".text",
    label_expression: Annotated[
        str, typer.Option("-l", "--label-expression", help="jq expression that yields the label of a row.")
    ] = ".label",
    max_length: Annotated[
        int | None,
        typer.Option("--max-length", help="Keep at most this many characters of each normalized text."),
    ] = None,
    auto: Annotated[
        int | None,
        typer.Option(
            "--auto",
            help="Bin a numeric label into N equal-count bins computed on train (labels 0..N-1).",
            metavar="N",
        ),
    ] = None,
    multi_label: Annotated[
        bool,
        typer.Option(
            "--multi-label",
            help="The label is a list, or a dict whose true / positive keys are the labels.",
        ),
    ] = False,
    num_proc: NumProc = None,
    overwrite: Overwrite = False,
) -> None:
    """Write fastText training files: train.txt, test.txt (and valid.txt) of
    `__label__<label> <text>` lines.

    Text goes through the normalizer and --max-length (the same preparation training and
    inference use), then every whitespace run becomes one space, so each document is exactly one
    line; a literal `__label__` inside the text is defused. Line order follows the input shards,
    whatever --num-proc is. fasttext_conversion.yaml records the settings, labels, counts per
    split and the --auto bins.
    """
    from bonepick.cli import output
    from bonepick.cli.common import finish, progress
    from bonepick.data.fasttext_format import convert_to_fasttext as run

    result = run(
        input_dir,
        output_dir,
        text_expression=text_expression,
        label_expression=label_expression,
        normalizer=None if normalizer.strip().lower() == "none" else normalizer,
        max_length=max_length,
        auto_bins=auto,
        multi_label=multi_label,
        num_proc=check_num_proc(num_proc),
        overwrite=overwrite,
        progress=progress(),
    )
    if result.bins is not None:
        output.table(
            "--auto bins (computed on train)",
            ["label", "train values", "train rows"],
            [
                [b["label"], line.split(": ", 1)[1], b["count"]]
                for b, line in zip(result.bins.bins, result.bins.describe(), strict=True)
            ],
        )
    counts = result.report["counts"]
    splits = list(counts)
    output.table(
        "labels per split",
        ["label", *splits],
        [[label, *[counts[s].get(label, 0) for s in splits]] for label in result.report["labels"]],
    )
    finish(output_dir, result.summary, "convert-to-fasttext", {"fasttext": result.report})
