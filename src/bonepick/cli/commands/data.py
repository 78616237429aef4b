"""Data preparation commands."""

from __future__ import annotations

from typing import Annotated

import typer

from bonepick.cli.app import command
from bonepick.cli.options import (
    Compression,
    CompressionLevel,
    InputDirs,
    LabelExpression,
    NumProc,
    OutputDir,
    Overwrite,
    Seed,
    TextExpression,
)


@command("data")
def import_hf_dataset(
    name: Annotated[
        str,
        typer.Option(
            "-n",
            "--name",
            help="Hub dataset id, a local folder or data file, or a builder (json, parquet, csv) with --data-files.",
        ),
    ],
    output_dir: OutputDir,
    subset: Annotated[
        str | None, typer.Option("--subset", help="Dataset configuration (subset) name.")
    ] = None,
    split: Annotated[
        list[str] | None,
        typer.Option("--split", help="Only these source splits (repeat); default: every split found."),
    ] = None,
    data_files: Annotated[
        list[str] | None,
        typer.Option("--data-files", help="Data files or globs for a builder name such as json (repeat)."),
    ] = None,
    test_split: Annotated[
        str | None,
        typer.Option(
            "-t",
            "--test-split",
            help="Cut a test split from train when there is none: a fraction (0.1) or a row count (10000).",
        ),
    ] = None,
    seed: Seed = 42,
    streaming: Annotated[
        bool,
        typer.Option("--streaming", help="Stream rows straight to shards (for datasets too big for disk)."),
    ] = False,
    rows_per_shard: Annotated[int, typer.Option("--rows-per-shard", help="Rows per output shard.")] = 100_000,
    num_proc: NumProc = None,
) -> None:
    """Import a Hugging Face dataset as train/ valid/ test/ folders of .jsonl.zst shards.

    Works offline on local data: -n ./folder, -n data.parquet, or -n json --data-files 'x/*.jsonl'.
    `validation` becomes valid/. Splits other than train/validation/test are left out (and
    named). The Arrow cache lives in a temporary folder inside -o and is deleted afterwards,
    so no hidden copy stays in the Hugging Face cache.
    """
    from bonepick.cli import output
    from bonepick.cli.common import stage_options, write_provenance
    from bonepick.data.hf_import import import_hf_dataset as run
    from bonepick.data.sizes import parse_amount

    result = run(
        name,
        output_dir,
        subset=subset,
        splits=split or None,
        data_files=data_files or None,
        test_split=parse_amount(test_split, "--test-split"),
        seed=seed,
        streaming=streaming,
        rows_per_shard=rows_per_shard,
        **stage_options(num_proc),
    )
    output.table(
        f"imported {name}",
        ["split", "rows", "files"],
        [[s, n, result.files.get(s, 0)] for s, n in result.rows.items()],
    )
    if result.skipped_splits:
        output.warn(f"left out splits with no place in train/valid/test: {', '.join(result.skipped_splits)}")
    write_provenance(output_dir, result.summary, {"import": result.to_dict()})
    output.info(f"output: {output_dir}")


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
    from bonepick.cli.common import compression_options, finish, stage_options
    from bonepick.data.copy import copy_dataset as run

    summary = run(
        input_dir,
        output_dir,
        **compression_options(compression, compression_level),
        **stage_options(num_proc, overwrite),
    )
    finish(output_dir, summary, "copy-dataset")


@command("data")
def transform_dataset(
    input_dir: InputDirs,
    output_dir: OutputDir,
    text_transform: Annotated[
        str | None,
        typer.Option(
            "-t",
            "--text-transform",
            help="jq expression for the text side, e.g. '{text: (.title + \"\\n\" + .body)}'.",
        ),
    ] = None,
    label_transform: Annotated[
        str | None,
        typer.Option(
            "-l",
            "--label-transform",
            help="jq expression for the label side, e.g. '{score: (if .score < 2 then 0 else 1 end)}'.",
        ),
    ] = None,
    keep_fields: Annotated[
        bool,
        typer.Option(
            "--keep-fields/--no-keep-fields",
            help="Keep the row's other fields and merge the results in (default), or write only the results.",
        ),
    ] = True,
    skip_errors: Annotated[
        bool,
        typer.Option(
            "--skip-errors", help="Skip (and count) rows where an expression fails or yields nothing."
        ),
    ] = False,
    compression_level: CompressionLevel = None,
    num_proc: NumProc = None,
    overwrite: Overwrite = False,
) -> None:
    """Reshape rows with jq expressions.

    Each expression runs on the input row: an object result is merged into the row, any other
    value becomes the row's `text` (-t) or `label` (-l). A failing or empty expression stops the
    run naming file:line and the expression, unless --skip-errors. jq only sees the fields an
    expression reads, so label transforms stay fast on long texts.
    """
    from bonepick.cli.common import finish, stage_options
    from bonepick.data.transform import transform_dataset as run

    summary = run(
        input_dir,
        output_dir,
        text_expression=text_transform,
        label_expression=label_transform,
        keep_fields=keep_fields,
        skip_errors=skip_errors,
        compression_level=compression_level,
        **stage_options(num_proc, overwrite),
    )
    finish(output_dir, summary, "transform-dataset")


@command("data")
def balance_dataset(
    input_dir: InputDirs,
    output_dir: OutputDir,
    label_expression: LabelExpression = ".label",
    seed: Seed = 42,
    splits: Annotated[
        str,
        typer.Option("--splits", help="Comma-separated splits to balance; other splits are copied as is."),
    ] = "train",
    compression_level: CompressionLevel = None,
    num_proc: NumProc = None,
    overwrite: Overwrite = False,
) -> None:
    """Balance labels exactly: every label keeps as many rows as the rarest one.

    Only train is balanced by default; test (and valid) are copied unchanged so evaluation still
    sees the real label mix; --splits train,valid,test changes that. Rows are picked uniformly
    at random with the seed (the same for any --num-proc), keep all their fields and their
    original order, and the corpus is never loaded into memory.
    """
    from bonepick.cli import output
    from bonepick.cli.common import finish, stage_options
    from bonepick.data.balance import balance_dataset as run
    from bonepick.data.balance import parse_splits

    result = run(
        input_dir,
        output_dir,
        label_expression=label_expression,
        seed=seed,
        splits=parse_splits(splits),
        compression_level=compression_level,
        **stage_options(num_proc, overwrite),
    )
    output.table(
        "labels before and after",
        ["split", "label", "before", "after"],
        [
            [split, label, before, after]
            for split, labels in result.labels.items()
            for label, (before, after) in labels.items()
        ],
    )
    if result.copied_splits:
        output.info(f"copied unchanged: {', '.join(result.copied_splits)}")
    finish(output_dir, result.summary, "balance-dataset", {"balance": result.to_dict()})


@command("data")
def sample_dataset(
    input_dir: InputDirs,
    output_dir: OutputDir,
    sampling_rate: Annotated[
        float | None, typer.Option("-r", "--sampling-rate", help="Fraction of rows to keep, in (0, 1].")
    ] = None,
    target_size: Annotated[
        str | None,
        typer.Option(
            "-t",
            "--target-size",
            help="Total uncompressed JSON size to keep: 500MB, 1.5G, 2GiB (decimal K/M/G/T, binary KiB/MiB/GiB).",
        ),
    ] = None,
    target_rows: Annotated[int | None, typer.Option("--target-rows", help="Number of rows to keep.")] = None,
    seed: Seed = 42,
    compression_level: CompressionLevel = None,
    num_proc: NumProc = None,
    overwrite: Overwrite = False,
) -> None:
    """Take a uniform random sample with an exact budget.

    Give one of --sampling-rate, --target-size or --target-rows. Every row of every input and
    split is equally likely to be picked, wherever it sits in its file; the sample holds exactly
    the rows asked for (a size budget is met to within one row without going over). Rows keep
    their split, shard and order; the same seed gives the same sample for any --num-proc.
    """
    from bonepick.cli import output
    from bonepick.cli.common import finish, stage_options
    from bonepick.data.sample import sample_dataset as run
    from bonepick.data.sizes import format_size, parse_size

    result = run(
        input_dir,
        output_dir,
        rate=sampling_rate,
        target_rows=target_rows,
        target_bytes=parse_size(target_size) if target_size is not None else None,
        seed=seed,
        compression_level=compression_level,
        **stage_options(num_proc, overwrite),
    )
    output.table(
        f"sample ({result.budget})",
        ["", "rows", "uncompressed size"],
        [
            ["input", result.rows_in, format_size(result.bytes_in)],
            ["sample", result.rows_out, format_size(result.bytes_out)],
        ],
    )
    finish(output_dir, result.summary, "sample-dataset", {"sample": result.to_dict()})


@command("data")
def reshard_dataset(
    input_dir: InputDirs,
    output_dir: OutputDir,
    num_files: Annotated[int, typer.Option("-n", "--num-files", help="Files per output split (any N >= 1).")],
    test_split_frac: Annotated[
        str | None,
        typer.Option(
            "-t",
            "--test-split-frac",
            help="Cut a new test split from train: a fraction (0.1) or a row count.",
        ),
    ] = None,
    valid_split_frac: Annotated[
        str | None,
        typer.Option(
            "-v", "--valid-split-frac", help="Cut a new valid split from train: a fraction or a row count."
        ),
    ] = None,
    seed: Seed = 42,
    compression_level: CompressionLevel = None,
    num_proc: NumProc = None,
) -> None:
    """Rewrite a dataset as N files of near-equal size per split.

    Rows keep their order; each split is cut into N contiguous runs of near-equal uncompressed
    bytes (files may be empty only when a split has fewer rows than N). With --test-split-frac /
    --valid-split-frac, new splits are cut from train with the seed (exact counts) before
    resharding. A folder of shards without split folders is written back without split folders.
    """
    from bonepick.cli import output
    from bonepick.cli.common import finish, stage_options
    from bonepick.data.reshard import reshard_dataset as run
    from bonepick.data.sizes import format_size, parse_amount

    result = run(
        input_dir,
        output_dir,
        num_files=num_files,
        test_split=parse_amount(test_split_frac, "--test-split-frac"),
        valid_split=parse_amount(valid_split_frac, "--valid-split-frac"),
        seed=seed,
        compression_level=compression_level,
        **stage_options(num_proc),
    )
    output.table(
        "resharded",
        ["split", "files", "rows", "uncompressed size", "smallest file", "largest file"],
        [
            [
                split,
                d["files"],
                d["rows"],
                format_size(d["bytes"]),
                format_size(d["min_file_bytes"]),
                format_size(d["max_file_bytes"]),
            ]
            for split, d in result.to_dict().items()
        ],
    )
    finish(output_dir, result.summary, "reshard-dataset", {"reshard": result.to_dict()})


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
    label_expression: LabelExpression = ".label",
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
    from bonepick.cli.common import finish, stage_options
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
        **stage_options(num_proc, overwrite),
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
