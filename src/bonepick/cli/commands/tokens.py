"""Dataset statistics: token counts and label distributions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bonepick.cli.app import command
from bonepick.cli.options import DatasetDirs, LabelExpression, NumProc


@command("data")
def count_tokens(
    dataset_dir: DatasetDirs,
    tokenizer: Annotated[
        str,
        typer.Option(
            "-t",
            "--tokenizer",
            "--tokenizer-name-or-path",
            help="Tokenizer: the shipped dolma2 / ultra_fineweb, a tokenizer.json path, or a hub name.",
        ),
    ] = "dolma2",
    text_expression: Annotated[
        str,
        typer.Option(
            "-i",
            "--input-field-expression",
            "--text-expression",
            help="jq expression that yields the text of a row.",
        ),
    ] = ".text",
    num_proc: NumProc = None,
) -> None:
    """Count documents, tokens and UTF-8 bytes of text, per dataset and split.

    Prints tokens per document and per byte of text; the default tokenizer is the shipped
    dolma2 one, so no network is needed.
    """
    from bonepick.cli import output
    from bonepick.cli.common import stage_options
    from bonepick.data.tokens import count_tokens as run

    report = run(
        dataset_dir,
        tokenizer=tokenizer,
        text_expression=text_expression,
        **stage_options(num_proc),
    )
    rows = [
        [dataset, split, c.files, c.documents, c.tokens, c.bytes, c.tokens_per_document, c.tokens_per_byte]
        for (dataset, split), c in report.counts.items()
    ]
    total = report.total
    rows.append(
        [
            "total",
            "",
            total.files,
            total.documents,
            total.tokens,
            total.bytes,
            total.tokens_per_document,
            total.tokens_per_byte,
        ]
    )
    output.table(
        f"tokens ({report.tokenizer})",
        ["dataset", "split", "files", "documents", "tokens", "text bytes", "tokens/doc", "tokens/byte"],
        rows,
    )


@command("data")
def label_distribution(
    dataset_dir: DatasetDirs,
    label_expression: LabelExpression = ".label",
    label_type: Annotated[
        str,
        typer.Option(
            "--label-type",
            help="text: categories, most frequent first; ordinal: ordered levels, lowest first; "
            "value: continuous numbers in --bins equal-width ranges.",
        ),
    ] = "text",
    bins: Annotated[int, typer.Option("--bins", help="Ranges for --label-type value.")] = 10,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Also draw the distribution into this PNG file.")
    ] = None,
    num_proc: NumProc = None,
) -> None:
    """Show how labels are distributed: count, percentage and cumulative percentage per split."""
    from bonepick.cli import output
    from bonepick.cli.common import stage_options
    from bonepick.data.label_distribution import label_distribution as run

    result = run(
        dataset_dir,
        label_expression=label_expression,
        label_type=label_type.strip().lower(),
        bins=bins,
        **stage_options(num_proc),
    )
    columns = ["label"]
    for split in result.splits:
        columns += [f"{split} count", f"{split} %", f"{split} cum %"]
    output.table(f"label distribution ({label_expression})", columns, result.table_rows())
    if plot is not None:
        output.info(f"plot: {result.plot(plot)}")
