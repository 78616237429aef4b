"""Scoring commands: infer (score a corpus with any model), thresholds, filter."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bonepick.cli.app import command
from bonepick.cli.options import (
    Compression,
    CompressionLevel,
    InputDirs,
    ModelDir,
    NumProc,
    OutputDir,
    Overwrite,
)

ScoreName = Annotated[
    str | None,
    typer.Option(
        "-n",
        "--name",
        help="Field the scores are written under \\[default: the model folder's name].",
        show_default=False,
    ),
]
RequiredScoreName = Annotated[
    str,
    typer.Option(
        "-n", "--name", help="Field the scores were written under (infer --name).", show_default=False
    ),
]
Label = Annotated[
    str | None,
    typer.Option(
        "--label",
        help="Label whose probability is thresholded (needed when the scores have several).",
        show_default=False,
    ),
]
By = Annotated[
    str, typer.Option("--by", help="Fractions of documents ('docs') or of their tokens ('tokens').")
]
Tokenizer = Annotated[
    Path | None,
    typer.Option(
        "--tokenizer",
        help="tokenizer.json used to count tokens for --by tokens \\[default: whitespace words].",
        show_default=False,
    ),
]


@command("infer")
def infer(
    model_dir: ModelDir,
    input_dir: InputDirs,
    output_dir: OutputDir,
    name: ScoreName = None,
    text_expression: Annotated[
        str | None,
        typer.Option(
            "--text-expression",
            help="jq expression for the text \\[default: the model card's].",
            show_default=False,
        ),
    ] = None,
    id_expression: Annotated[
        str,
        typer.Option("--id-expression", help="jq expression for the document id written beside the scores."),
    ] = ".id",
    output: Annotated[
        str,
        typer.Option(
            "--output",
            help="'attributes': score files mirroring the input shards row for row; "
            "'inline': the documents with the scores added under --name.",
        ),
    ] = "attributes",
    batch_size: Annotated[int, typer.Option("--batch-size", help="Texts scored per model call.")] = 1024,
    compression: Compression = "zst",
    compression_level: CompressionLevel = None,
    num_proc: NumProc = None,
    engine: Annotated[
        str, typer.Option("--engine", help="'local' (worker processes) or 'ray' (Ray tasks).")
    ] = "local",
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            help="Ray cluster to join (e.g. ray://head:10001 or auto) \\[default: start a local Ray instance].",
            show_default=False,
        ),
    ] = None,
    num_cpus_per_task: Annotated[
        float, typer.Option("--num-cpus-per-task", help="CPUs each Ray task asks for.")
    ] = 1.0,
    num_gpus_per_task: Annotated[
        float, typer.Option("--num-gpus-per-task", help="GPUs each Ray task asks for.")
    ] = 0.0,
    normalizer: Annotated[
        str | None,
        typer.Option(
            "--normalizer",
            help="Normalizer applied before predicting \\[default: the model card's]; 'none' for none. "
            "Needed for a fastText .bin trained elsewhere (a folder without a card).",
            show_default=False,
        ),
    ] = None,
    max_length: Annotated[
        int | None,
        typer.Option(
            "--max-length",
            help="Characters kept after normalizing \\[default: the model card's]; 0 keeps all.",
            show_default=False,
        ),
    ] = None,
    rank: Annotated[int, typer.Option("--rank", help="This job's index in --world-size jobs (0-based).")] = 0,
    world_size: Annotated[
        int,
        typer.Option("--world-size", help="Jobs splitting the shards between them (round-robin by shard)."),
    ] = 1,
    overwrite: Overwrite = False,
) -> None:
    """Score every document of a corpus with a trained model (fastText, Model2Vec, encoder).

    The model card says how to read and prepare the text. By default writes attribute files that mirror the input shards row for row ({"id": ..., "<name>": {"<label>": p}}, or a bare score for regression and ranking models); --output inline writes the documents with the scores added under --name.

    A rerun skips shards already scored. --rank/--world-size split the shards between independent jobs (a Slurm array); --engine ray runs them as Ray tasks.
    """
    from bonepick.cli import output as out
    from bonepick.cli.common import compression_options, finish, stage_options
    from bonepick.errors import UsageError
    from bonepick.infer import infer as run

    if engine not in ("local", "ray"):
        raise UsageError(f"unknown --engine '{engine}'", hint="use local or ray")
    result = run(
        input_dir,
        output_dir,
        model_dir,
        name=name,
        text_expression=text_expression,
        id_expression=id_expression,
        output=output,
        batch_size=batch_size,
        **compression_options(compression, compression_level),
        engine=engine,
        ray_address=ray_address,
        num_cpus_per_task=num_cpus_per_task,
        num_gpus_per_task=num_gpus_per_task,
        rank=rank,
        world_size=world_size,
        normalizer=normalizer,
        max_length=max_length,
        **stage_options(num_proc, overwrite),
    )
    provenance = f"bonepick.rank-{rank:05d}-of-{world_size:05d}.yaml" if world_size > 1 else None
    finish(output_dir, result.summary, f"infer {result.name}", extra=result.provenance(), name=provenance)
    speed = result.throughput
    if speed["documents"]:
        out.info(
            f"scored {speed['documents']:,} documents ({speed['megabytes']:,.1f} MB) in {speed['seconds']:,.1f}s: "
            f"{speed['docs_per_second']:,.0f} docs/s, {speed['mb_per_second']:,.1f} MB/s; per worker, once "
            f"started: {speed['docs_per_worker_second']:,.0f} docs/s ({speed['model_seconds']:,.1f}s in the model)"
        )


@command("infer")
def thresholds(
    dataset_dir: Annotated[
        list[Path],
        typer.Option(
            "-d",
            "--dataset-dir",
            help="Folder written by infer (attribute files or inline-scored documents; repeat for several).",
            show_default=False,
        ),
    ],
    name: RequiredScoreName,
    label: Label = None,
    keep: Annotated[
        str, typer.Option("--keep", help="Fractions to keep, comma-separated (0.1 or 10%).")
    ] = "0.05,0.1,0.2,0.3,0.5",
    by: By = "docs",
    input_dir: Annotated[
        list[Path] | None,
        typer.Option(
            "-i",
            "--input-dir",
            help="The scored documents, for --by tokens with attribute files.",
            show_default=False,
        ),
    ] = None,
    text_expression: Annotated[
        str | None,
        typer.Option(
            "--text-expression",
            help="jq expression for the text, for --by tokens \\[default: the one infer used].",
            show_default=False,
        ),
    ] = None,
    tokenizer: Tokenizer = None,
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output-dir",
            help="Where the YAML (and PNG) go \\[default: the first -d folder].",
            show_default=False,
        ),
    ] = None,
    histogram: Annotated[
        bool, typer.Option("--histogram", help="Also draw a histogram of the scores (PNG).")
    ] = False,
    num_proc: NumProc = None,
) -> None:
    """Score thresholds that keep a given fraction of the documents (or of their tokens).

    For each fraction k, the threshold is the (1 - k) percentile of the scores; documents scoring at or above it are kept. Prints a table and writes thresholds_<name>.yaml (and a histogram PNG with --histogram).
    """
    import yaml

    from bonepick.cli import output as out
    from bonepick.cli.app import current_invocation
    from bonepick.cli.common import stage_options
    from bonepick.infer.thresholds import compute_thresholds, parse_keeps, plot_histogram
    from bonepick.io.atomic import atomic_write_text
    from bonepick.provenance import _plain

    report = compute_thresholds(
        dataset_dir,
        name,
        label=label,
        keeps=parse_keeps(keep),
        by=by,
        docs_dirs=input_dir or None,
        text_expression=text_expression,
        tokenizer=tokenizer,
        **stage_options(num_proc),
    )
    columns = ["keep", "threshold", "docs kept", "% docs"]
    if report.tokens is not None:
        columns += ["tokens kept", "% tokens"]
    rows = []
    for row in report.rows:
        cells: list = [
            f"{row.keep:g}",
            f"{row.threshold:.6g}",
            row.docs_kept,
            f"{100 * row.docs_fraction:.2f}%",
        ]
        if report.tokens is not None:
            cells += [row.tokens_kept, f"{100 * (row.tokens_fraction or 0):.2f}%"]
        rows.append(cells)
    what = name + (f" / {label}" if label else "")
    out.table(f"thresholds of {what}", columns, rows)
    unit = f", {report.tokens:,} {report.token_unit}" if report.tokens is not None else ""
    out.info(f"{report.documents:,} documents{unit}; keep documents scoring at least the threshold")
    folder = output_dir or dataset_dir[0]
    stem = f"thresholds_{name}" + (f"_{label}" if label else "")
    record = report.to_dict()
    invocation = current_invocation.get()
    if invocation is not None:
        record["command"] = {"name": invocation.command, "arguments": _plain(invocation.arguments)}
    path = folder / f"{stem}.yaml"
    atomic_write_text(path, yaml.safe_dump(record, sort_keys=False, allow_unicode=True))
    out.info(f"thresholds: {path}")
    if histogram:
        out.info(f"histogram: {plot_histogram(report, folder / f'{stem}.png')}")


@command("infer", name="filter")
def filter_documents(
    input_dir: InputDirs,
    output_dir: OutputDir,
    name: RequiredScoreName,
    attributes_dir: Annotated[
        Path | None,
        typer.Option(
            "-a",
            "--attributes-dir",
            help="Attribute files written by infer for these documents "
            "\\[default: the scores are inline in the documents].",
            show_default=False,
        ),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option("--threshold", help="Keep documents scoring at least this.", show_default=False),
    ] = None,
    keep: Annotated[
        str | None,
        typer.Option(
            "--keep",
            help="Instead of --threshold: keep this fraction (0.1 or 10%) of the documents "
            "(or tokens, with --by tokens).",
            show_default=False,
        ),
    ] = None,
    label: Label = None,
    by: By = "docs",
    tokenizer: Tokenizer = None,
    compression: Compression = "zst",
    compression_level: CompressionLevel = None,
    num_proc: NumProc = None,
    overwrite: Overwrite = False,
) -> None:
    """Write only the documents whose score is at least a threshold, unchanged, mirroring the input.

    Scores come from infer's attribute files (-a) or from the documents themselves when they were scored with --output inline. Reports how many documents were kept and dropped.
    """
    from bonepick.cli import output as out
    from bonepick.cli.common import compression_options, finish, stage_options
    from bonepick.errors import UsageError
    from bonepick.infer.filter import filter_documents as run
    from bonepick.infer.thresholds import parse_keeps

    fraction = None
    if keep is not None:
        keeps = parse_keeps(keep)
        if len(keeps) != 1:
            raise UsageError("filter --keep takes one fraction", hint="e.g. --keep 0.1")
        fraction = keeps[0]
    result = run(
        input_dir,
        output_dir,
        name,
        attributes_dir=attributes_dir,
        label=label,
        threshold=threshold,
        keep=fraction,
        by=by,
        tokenizer=tokenizer,
        **compression_options(compression, compression_level),
        **stage_options(num_proc, overwrite),
    )
    finish(
        output_dir,
        result.summary,
        f"filter {name} >= {result.threshold:.6g}",
        extra={"threshold": result.threshold},
    )
    totals = result.summary.totals()
    share = totals.rows_out / totals.rows_in if totals.rows_in else 0.0
    out.info(
        f"kept {totals.rows_out:,} of {totals.rows_in:,} documents ({100 * share:.2f}%), "
        f"dropped {totals.rows_in - totals.rows_out:,} scoring below {result.threshold:.6g}"
    )
