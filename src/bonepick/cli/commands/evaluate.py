"""Evaluation commands: eval (any model), eval-model2vec, eval-fasttext, compare."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bonepick.cli.app import command
from bonepick.cli.options import DatasetDirs, ModelDir, options_like

if TYPE_CHECKING:
    from bonepick.models.card import ModelCard

Split = Annotated[str, typer.Option("--split", help="Split to evaluate on (test, valid or train).")]
EvalTextExpression = Annotated[
    str | None,
    typer.Option(
        "--text-expression",
        help="jq expression for the text [default: the model card's].",
        show_default=False,
    ),
]
EvalLabelExpression = Annotated[
    str | None,
    typer.Option(
        "-l",
        "--label-expression",
        help="jq expression for the label [default: the model card's].",
        show_default=False,
    ),
]
Normalizer = Annotated[
    str | None,
    typer.Option(
        "--normalizer",
        help="Normalizer applied before predicting [default: the model card's]; 'none' for no normalizer.",
        show_default=False,
    ),
]
MaxLength = Annotated[
    int | None,
    typer.Option(
        "--max-length",
        help="Characters kept after normalizing [default: the model card's]; 0 keeps all.",
        show_default=False,
    ),
]
BatchSize = Annotated[int, typer.Option("--batch-size", help="Texts scored per model call.")]
Report = Annotated[
    Path | None,
    typer.Option(
        "--report",
        help="Also write PNG plots (ROC, precision-recall, confusion matrix, score histograms, reliability) "
        "and a self-contained report.html into this folder.",
        show_default=False,
    ),
]
Bins = Annotated[int, typer.Option("--bins", help="Bins of the reliability (calibration) diagram and ECE.")]


def _evaluate(
    model_dir: Path,
    dataset_dir: list[Path],
    split: str,
    text_expression: str | None,
    label_expression: str | None,
    normalizer: str | None,
    max_length: int | None,
    batch_size: int,
    bins: int,
    report: Path | None,
    card: ModelCard | None = None,
) -> None:
    """Evaluate, print the metric tables, write the results file (and the report)."""
    from bonepick.cli import output
    from bonepick.cli.common import progress
    from bonepick.evaluate.evaluate import EvalOptions, evaluate_model
    from bonepick.evaluate.results import write_results
    from bonepick.evaluate.tables import metric_tables

    if bins < 1:
        from bonepick.errors import UsageError

        raise UsageError(f"--bins must be at least 1, got {bins}")
    options = EvalOptions(
        split=split,
        text_expression=text_expression,
        label_expression=label_expression,
        normalizer=normalizer,
        max_length=max_length,
        batch_size=batch_size,
        n_bins=bins,
    )
    evaluation = evaluate_model(model_dir, dataset_dir, options, card=card, progress=progress())
    record = evaluation.record(_invocation())
    path = write_results(evaluation.results_path, record)
    card = evaluation.card
    output.info(
        f"{card.kind} {card.task} model {model_dir}: {evaluation.rows:,} rows from {len(evaluation.sources)} "
        f"file(s) scored at {evaluation.docs_per_second or 0:,.0f} docs/s ({evaluation.seconds:.1f}s in all, "
        f"{evaluation.load_seconds:.1f}s of it loading the model)"
    )
    for table in metric_tables(evaluation.metrics, evaluation.rows):
        output.table(table.title, table.columns, table.rows)
    output.info(f"results: {path}")
    if report is not None:
        from bonepick.evaluate.report import write_report

        html = write_report(evaluation, report, record)
        output.info(f"report: {html}")


def _invocation() -> dict[str, Any]:
    """The command line that made a results file (Paths become strings when it is written)."""
    from bonepick.cli.app import current_invocation

    invocation = current_invocation.get()
    if invocation is None:
        return {}
    return {"name": invocation.command, "arguments": dict(invocation.arguments)}


@command("evaluate", name="eval")
def eval_model(
    model_dir: ModelDir,
    dataset_dir: DatasetDirs,
    split: Split = "test",
    text_expression: EvalTextExpression = None,
    label_expression: EvalLabelExpression = None,
    normalizer: Normalizer = None,
    max_length: MaxLength = None,
    batch_size: BatchSize = 2048,
    bins: Bins = 10,
    report: Report = None,
) -> None:
    """Evaluate any bonepick model (fastText, Model2Vec, encoder) on the test split.

    The model card says the kind, the labels and how text was prepared in training; the same
    preparation is applied here. Classifiers get per-class precision, recall, F1, support,
    ROC-AUC and average precision, macro and weighted averages, accuracy and the confusion
    matrix (plus MAE, Spearman, Kendall and AUC of "label >= k" when the classes are numbers);
    regression and ranking models get MSE, MAE, Spearman, Kendall, Pearson and the AUC of the
    score for every label threshold. Results go to results_<signature>.yaml in the model folder,
    where the signature identifies the test rows whatever order they are read in.
    """
    _evaluate(**locals())  # exactly this command's options


@command("evaluate", name="eval-model2vec")
@options_like(eval_model, first=("dataset_dir",))
def eval_model2vec(model_dir: Path, **options: Any) -> None:
    """Evaluate a Model2Vec model (classification, regression or contrastive) on the test split.

    Same as `eval`, for a folder written by train-model2vec or train-contrastive: normalizer,
    max length and expressions come from the model card unless given here.
    """
    _evaluate(model_dir, card=_expect_kind(model_dir, "model2vec"), **options)


@command("evaluate", name="eval-fasttext")
@options_like(eval_model, first=("dataset_dir",))
def eval_fasttext(model_dir: Path, normalizer: str | None, **options: Any) -> None:
    """Evaluate a fastText classifier on the test split (JSON Lines shards or a converted test.txt).

    A folder written by train-fasttext carries its card. A .bin (or .ftz) trained elsewhere, in a
    folder with no card, works too when --normalizer names the preprocessing it was trained
    with ('none' if its text was used as is); its labels are read from the model file.
    """
    from bonepick.models.card import ModelCard

    if ModelCard.exists(model_dir):
        card = _expect_kind(model_dir, "fasttext")  # loaded once, evaluated with as it is
    else:
        from bonepick.errors import ModelError

        if not model_dir.is_dir():
            raise ModelError(f"no such model folder: {model_dir}")
        if normalizer is None:
            raise ModelError(
                f"{model_dir} has no model card, so the preprocessing the model expects is unknown",
                hint="pass --normalizer NAME (the one it was trained with, or 'none'), "
                "and the text and label expressions if they are not .text and .label",
            )
        from bonepick.models.fasttext import card_for_foreign_model

        card = card_for_foreign_model(model_dir, None, None)
    _evaluate(model_dir, normalizer=normalizer, card=card, **options)


def _expect_kind(model_dir: Path, kind: str) -> ModelCard:
    """The folder's card, after checking that it holds a model of this kind."""
    from bonepick.errors import ModelError
    from bonepick.models.card import ModelCard

    card = ModelCard.load(model_dir)
    if card.kind != kind:
        raise ModelError(
            f"{model_dir} holds a {card.kind} model, not a {kind} one",
            hint=f"use `bonepick eval -m {model_dir} ...`, which works for every kind",
        )
    return card


@command("evaluate")
def compare(
    results: Annotated[
        list[Path],
        typer.Option(
            "-r",
            "--results",
            help="A results_<signature>.yaml, or a model folder (all its results); repeat for several.",
            show_default=False,
        ),
    ],
    signature: Annotated[
        str | None,
        typer.Option(
            "--signature", help="Only results on the test data with this signature.", show_default=False
        ),
    ] = None,
) -> None:
    """Show several models' results side by side: one row per metric, one column per result.

    Results on different test data (different signatures) are shown with a warning, since their
    numbers are not comparable; the best value of each row is marked with *.
    """
    from bonepick.cli import output
    from bonepick.evaluate.compare import compare_results

    comparison = compare_results(results, signature)
    for message in comparison.warnings:
        output.warn(message)
    output.table(comparison.title, comparison.columns, comparison.rows)
    for column, source in zip(comparison.columns[1:], comparison.sources, strict=True):
        output.info(f"{column}: {source}")
