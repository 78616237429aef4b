"""Calibration commands: eval-calibration and train-calibration."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bonepick.cli.app import command
from bonepick.cli.options import DatasetDirs

PredictionExpressions = Annotated[
    list[str],
    typer.Option(
        "-p",
        "--prediction-expression",
        help="jq expression for the model output of a row: a number, a list or an object of numbers "
        "(or repeat -p, one number each).",
        show_default=False,
    ),
]
PredictionExpression = Annotated[
    str,
    typer.Option(
        "-p",
        "--prediction-expression",
        help="jq expression for the score of a row (a number).",
        show_default=False,
    ),
]
LabelExpression = Annotated[
    str,
    typer.Option(
        "-l", "--label-expression", help="jq expression for the (numeric, ordinal) label.", show_default=False
    ),
]
Split = Annotated[
    str,
    typer.Option(
        "--split", help="Split to read when the folder has split folders (a flat folder is read whole)."
    ),
]
OutputFile = Annotated[
    Path | None,
    typer.Option("-o", "--output-file", help="Also write the results as YAML here.", show_default=False),
]


@command("evaluate")
def eval_calibration(
    dataset_dir: DatasetDirs,
    prediction_expression: PredictionExpression,
    label_expression: LabelExpression,
    split: Split = "test",
    bins: Annotated[int, typer.Option("--bins", help="Bins for the expected calibration error.")] = 10,
    scale: Annotated[
        str,
        typer.Option(
            "--scale",
            help="Compare the score with the label as is ('label'), mapped to [0, 1] ('unit'), or "
            "'auto': unit when every score is in [0, 1] and the labels are not.",
        ),
    ] = "auto",
    output_file: OutputFile = None,
    plot_dir: Annotated[
        Path | None,
        typer.Option(
            "--plot-dir", help="Write calibration.png and histogram.png into this folder.", show_default=False
        ),
    ] = None,
) -> None:
    """How well a scalar score ranks and calibrates against ordinal labels.

    Reads rows that carry both a model's score and a label (for example `infer --output inline`
    on labelled data). Ranking: AUC of the score for "label >= t" (macro, weighted, and between
    adjacent labels), Spearman, Kendall. Calibration: Pearson, MSE, RMSE, MAE, R², expected
    calibration error. Then per-label score statistics.
    """
    from bonepick.cli import output
    from bonepick.cli.common import progress
    from bonepick.errors import UsageError
    from bonepick.evaluate.calibration import calibration_metrics, read_scored_rows
    from bonepick.evaluate.results import write_results

    if bins < 1:
        raise UsageError(f"--bins must be at least 1, got {bins}")
    data = read_scored_rows(dataset_dir, [prediction_expression], label_expression, split, progress())
    if data.features.shape[1] != 1:
        raise UsageError(
            f"'{prediction_expression}' gives {data.features.shape[1]} numbers per row; eval-calibration needs one",
            hint="pick one output (e.g. '.scores.pos'), or map them to one score with train-calibration's jq",
        )
    result = calibration_metrics(data.features[:, 0], data.labels, bins, scale)
    auc, corr, err = result["auc"], result["correlation"], result["error"]
    output.table(
        f"Score vs label: {data.rows:,} rows, {result['scale']} scale",
        ["metric", "value"],
        [
            ["macro AUC (label >= t)", _v(auc["macro"])],
            ["weighted AUC (label >= t)", _v(auc["weighted"])],
            ["ordinal AUC (adjacent labels)", _v(auc["ordinal"])],
            ["Spearman", _v(corr["spearman"])],
            ["Kendall tau-b", _v(corr["kendall"])],
            ["Pearson", _v(corr["pearson"])],
            ["MSE", _v(err["mse"])],
            ["RMSE", _v(err["rmse"])],
            ["MAE", _v(err["mae"])],
            ["R²", _v(err["r2"])],
            ["expected calibration error", _v(result["calibration"]["ece"])],
        ],
    )
    if auc["at_least"]:
        output.table("AUC for label >= t", ["t", "AUC"], [[t, _v(a)] for t, a in auc["at_least"].items()])
    per_label = result.get("per_label") or {}
    if per_label:
        output.table(
            "Score per label",
            ["label", "count", "mean", "std", "min", "median", "max"],
            [
                [label, s["count"], *[_v(s.get(k)) for k in ("mean", "std", "min", "median", "max")]]
                for label, s in per_label.items()
            ],
        )
    output.table(
        "Calibration bins",
        ["bin", "rows", "mean score", "mean label"],
        [
            [
                f"[{b['low']:.3g}, {b['high']:.3g})",
                b["count"],
                _v(b.get("mean_predicted")),
                _v(b.get("mean_observed")),
            ]
            for b in result["calibration"]["bins"]
        ],
    )
    if output_file is not None:
        record = {
            "dataset_dirs": data.dataset_dirs,
            "split": split,
            "prediction_expression": prediction_expression,
            "label_expression": label_expression,
            **result,
        }
        write_results(output_file, record)
        output.info(f"results: {output_file}")
    if plot_dir is not None:
        from bonepick.evaluate.report import plot_calibration_scores

        for path in plot_calibration_scores(plot_dir, data.features[:, 0], data.labels, result):
            output.info(f"plot: {path}")


@command("evaluate")
def train_calibration(
    dataset_dir: DatasetDirs,
    prediction_expression: PredictionExpressions,
    label_expression: LabelExpression,
    method: Annotated[
        str,
        typer.Option(
            "-m",
            "--method",
            help="linear: label = b + Σ w·x; log-linear: label = b + Σ w·ln(x) (x floored at 1e-6), "
            "for probabilities whose extremes matter.",
        ),
    ] = "linear",
    split: Split = "test",
    output_file: OutputFile = None,
) -> None:
    """Fit a mapping from one or more model outputs to the label scale.

    Least squares on the rows of the split; the mapping is printed as weights and as a jq
    expression (clipped to the label range) that `transform-dataset`, `infer` consumers or
    `eval-calibration -p` can use as is. Fit on data the model was not trained on (a valid
    split: --split valid) and check it on the test split with eval-calibration.
    """
    from bonepick.cli import output
    from bonepick.cli.common import progress
    from bonepick.evaluate.calibration import fit_calibration, read_scored_rows
    from bonepick.evaluate.results import write_results

    data = read_scored_rows(dataset_dir, prediction_expression, label_expression, split, progress())
    fit = fit_calibration(data, method)
    inputs = fit.quality["inputs"]
    output.table(
        f"{method} fit, {data.rows:,} rows",
        ["output", "weight", "Spearman with label"],
        [[name, w, _v(inputs.get(name))] for name, w in fit.weights.items()] + [["(bias)", fit.bias, "-"]],
    )
    fitted = fit.quality["fitted"]
    output.table(
        "Fit quality (fitting rows)",
        ["metric", "value"],
        [
            ["label range (clip)", f"[{fit.low:g}, {fit.high:g}]"],
            ["MSE", _v(fitted["mse"])],
            ["MAE", _v(fitted["mae"])],
            ["R²", _v(fitted["r2"])],
            ["Spearman", _v(fitted["spearman"])],
            ["Pearson", _v(fitted["pearson"])],
        ],
    )
    output.info("jq expression:")
    output.out.print(fit.jq(), markup=False, highlight=False, soft_wrap=True)
    if output_file is not None:
        write_results(
            output_file,
            {
                "dataset_dirs": data.dataset_dirs,
                "split": split,
                "label_expression": label_expression,
                **fit.to_dict(),
            },
            digits=12,
        )
        output.info(f"calibration: {output_file}")


def _v(value):
    return "-" if value is None else value
