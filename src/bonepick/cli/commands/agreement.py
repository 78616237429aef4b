"""How far to trust the labels: agreement between annotators."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bonepick.cli.app import command
from bonepick.cli.options import DatasetDirs, NumProc, Seed, TextExpression, check_num_proc

LabelExpressions = Annotated[
    list[str],
    typer.Option(
        "-l",
        "--label-expression",
        help="jq expression for the label (once for all -d, or once per -d in order). "
        "A list, or several outputs, are samples to aggregate.",
        show_default=False,
    ),
]
KeyExpressions = Annotated[
    list[str],
    typer.Option(
        "-k",
        "--key-expression",
        help="jq expression for the key that matches rows across annotators (once, or once per -d).",
    ),
]
Names = Annotated[
    list[str] | None,
    typer.Option(
        "-n",
        "--name",
        help="Annotator name, once per -d (default: folder names, or the -l fields when the folders are the same).",
        show_default=False,
    ),
]


@command("annotate")
def annotation_agreement(
    dataset_dir: DatasetDirs,
    label_expression: LabelExpressions,
    key_expression: KeyExpressions = [".id"],  # noqa: B006 - Typer reads the default
    name: Names = None,
    ordinal: Annotated[
        bool,
        typer.Option(
            "--ordinal", help="Labels are ordered scores: add weighted kappa, MAE, RMSE and correlations."
        ),
    ] = False,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold", help="Also measure agreement on score >= T versus < T.", show_default=False
        ),
    ] = None,
    aggregate: Annotated[
        str,
        typer.Option(
            "--aggregate",
            help="How several samples of one row (or duplicate keys) become one label: majority (ties go "
            "to the mean), mean, min or max.",
        ),
    ] = "majority",
    duplicates: Annotated[
        str,
        typer.Option(
            "--duplicates",
            help="A key on several rows of one annotator: aggregate (pool its labels), first (keep the "
            "first row) or error.",
        ),
    ] = "aggregate",
    split: Annotated[
        list[str] | None,
        typer.Option("--split", help="Read only these splits (repeat; default: all).", show_default=False),
    ] = None,
    show_confusion_matrix: Annotated[
        bool, typer.Option("--show-confusion-matrix", help="Print the confusion matrix of every pair.")
    ] = False,
    show_disagreements: Annotated[
        int,
        typer.Option(
            "--show-disagreements", help="Print N rows where annotators differ, with a text snippet.", min=0
        ),
    ] = 0,
    text_expression: TextExpression = ".text",
    snippet_chars: Annotated[
        int, typer.Option("--snippet-chars", help="Characters of text shown per disagreement.")
    ] = 240,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot", help="Write PNG plots of distributions and differences here.", show_default=False
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write the full report as YAML here.", show_default=False),
    ] = None,
    markdown: Annotated[
        Path | None, typer.Option("--markdown", help="Also write the tables as Markdown.", show_default=False)
    ] = None,
    latex: Annotated[
        Path | None, typer.Option("--latex", help="Also write the tables as LaTeX.", show_default=False)
    ] = None,
    num_proc: NumProc = None,
    seed: Seed = 0,
) -> None:
    """Agreement between two or more annotators of the same rows, matched on a key.

    Coverage, agreement rate, Cohen's kappa per pair, Fleiss' kappa (three or more annotators) and Krippendorff's alpha (nominal, and ordinal for numeric labels); with --ordinal also quadratic-weighted kappa, MAE, RMSE, Pearson, Spearman and Kendall.

    Compare two fields of one dataset by passing the same -d twice with two -l. Only the key -> label map of each annotator is kept in memory; disagreement texts are fetched in a second pass.
    """
    import os

    from bonepick.annotate import agreement as lib
    from bonepick.cli import output as out
    from bonepick.cli.common import progress
    from bonepick.errors import UsageError

    if len(dataset_dir) < 2:
        raise UsageError(
            f"annotation-agreement needs at least two -d, got {len(dataset_dir)}",
            hint="pass -d once per annotator; the same folder twice with two -l compares two label fields",
        )
    labels = lib.broadcast(label_expression, len(dataset_dir), "-l/--label-expression")
    keys = lib.broadcast(key_expression, len(dataset_dir), "-k/--key-expression")
    if name and len(name) != len(dataset_dir):
        raise UsageError(
            f"-n/--name was given {len(name)} times for {len(dataset_dir)} datasets",
            hint="give one name per -d",
        )
    names = list(name) if name else lib.annotator_names(dataset_dir, labels)
    procs = check_num_proc(num_proc) or os.cpu_count() or 1
    config = lib.AgreementConfig(
        annotators=[
            lib.AnnotatorSpec(name=n, root=d, label_expression=lab, key_expression=k)
            for n, d, lab, k in zip(names, dataset_dir, labels, keys, strict=True)
        ],
        ordinal=ordinal,
        threshold=threshold,
        aggregate=aggregate.strip().lower(),
        duplicates=duplicates.strip().lower(),
        splits=tuple(split) if split else None,
        show_disagreements=show_disagreements,
        text_expression=text_expression,
        snippet_chars=snippet_chars,
        seed=seed,
        num_proc=procs,
    )
    result = lib.run_agreement(config, progress())
    report = result.report

    for title, columns, rows in lib.summary_tables(report, ordinal, threshold):
        _table(title, columns, rows)
    if show_confusion_matrix:
        skipped = [f"{p['a']} vs {p['b']}" for p in report["pairs"] if not p["confusion_matrix"]]
        for title, columns, rows in lib.confusion_tables(report):
            _table(title, columns, rows)
        if skipped:
            out.warn(
                f"no confusion matrix for {', '.join(skipped)}: more than {lib.MAX_CONFUSION_LABELS} distinct labels"
            )
    disagreements = lib.disagreement_table(report)
    if disagreements:
        title, columns, rows = disagreements
        if rows:
            _table(title, columns, rows)
        else:
            out.info("no disagreements: every common row has the same label from every annotator")
    for note in lib.all_notes(report):
        out.info(f"note: {note}")

    if plot is not None:
        written = lib.write_plots(result, plot)
        out.info(f"plots: {len(written)} PNG files in {plot}")
    if output is not None:
        from bonepick.cli.app import current_invocation
        from bonepick.provenance import build_provenance

        invocation = current_invocation.get()
        extra = None
        if invocation is not None:
            record = build_provenance(
                invocation.command, invocation.arguments, invocation.started, invocation.seconds
            )
            extra = {"provenance": record}
        lib.write_yaml(report, output, extra)
        out.info(f"report: {output}")
    if markdown is not None:
        from bonepick.io.atomic import atomic_write_text

        atomic_write_text(markdown, lib.render_markdown(report, show_confusion=True))
        out.info(f"markdown: {markdown}")
    if latex is not None:
        from bonepick.io.atomic import atomic_write_text

        atomic_write_text(latex, lib.render_latex(report, show_confusion=show_confusion_matrix))
        out.info(f"latex: {latex}")


def _table(title: str, columns: list[str], rows: list[list]) -> None:
    """A results table: numbers right-aligned and formatted, text left-aligned (wrapping)."""
    from rich.table import Table

    from bonepick.annotate.agreement import fmt, numeric_columns
    from bonepick.cli import output

    table = Table(title=title, title_justify="left")
    for column, right in zip(columns, numeric_columns(columns, rows), strict=True):
        table.add_column(column, justify="right" if right else "left", overflow="fold")
    for row in rows:
        table.add_row(*[fmt(v) for v in row])
    output.out.print(table)
