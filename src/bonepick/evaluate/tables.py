"""Results as tables (title, columns, rows): the same tables go to the terminal and the HTML report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MISSING = "-"


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[Any]]


def _v(value: Any) -> Any:
    return MISSING if value is None else value


def _class_rows(metrics: dict[str, Any], averages: Sequence[str]) -> list[list[Any]]:
    rows = []
    for label, m in metrics["per_class"].items():
        rows.append(
            [
                label,
                _v(m["precision"]),
                _v(m["recall"]),
                _v(m["f1"]),
                m["support"],
                _v(m["roc_auc"]),
                _v(m["average_precision"]),
            ]
        )
    total = sum(m["support"] for m in metrics["per_class"].values())
    for name in averages:
        a = metrics[name]
        rows.append(
            [
                f"{name} avg",
                _v(a.get("precision")),
                _v(a.get("recall")),
                _v(a.get("f1")),
                total,
                _v(a.get("roc_auc")),
                _v(a.get("average_precision")),
            ]
        )
    return rows


CLASS_COLUMNS = ["class", "precision", "recall", "F1", "support", "ROC-AUC", "avg precision"]


def classification_tables(metrics: dict[str, Any], rows: int) -> list[Table]:
    labels = list(metrics["per_class"])
    summary = [
        ["rows", rows],
        ["accuracy", _v(metrics["accuracy"])],
        ["macro F1", _v(metrics["macro"]["f1"])],
        ["weighted F1", _v(metrics["weighted"]["f1"])],
        ["macro ROC-AUC", _v(metrics["macro"]["roc_auc"])],
        ["macro avg precision", _v(metrics["macro"]["average_precision"])],
        [f"ECE ({metrics['calibration']['of']})", _v(metrics["calibration"]["ece"])],
    ]
    tables = [
        Table("Per class", CLASS_COLUMNS, _class_rows(metrics, ("macro", "weighted"))),
        Table("Summary", ["metric", "value"], summary),
        Table(
            "Confusion matrix",
            ["true \\ predicted", *labels],
            [[label, *counts] for label, counts in zip(labels, metrics["confusion_matrix"], strict=True)],
        ),
    ]
    ordinal = metrics.get("ordinal")
    if ordinal:
        rows_ = [
            ["MAE (most probable class)", _v(ordinal["mae"])],
            ["MAE (expected value)", _v(ordinal["mae_expected"])],
            ["Spearman (expected value)", _v(ordinal["spearman"])],
            ["Kendall tau-b (expected value)", _v(ordinal["kendall"])],
        ]
        rows_ += [[f"AUC label >= {t}", _v(auc)] for t, auc in ordinal["auc_at_least"].items()]
        tables.append(Table("Ordinal labels", ["metric", "value"], rows_))
    return tables


def multilabel_tables(metrics: dict[str, Any], rows: int) -> list[Table]:
    summary = [
        ["rows", rows],
        ["subset accuracy", _v(metrics["subset_accuracy"])],
        ["Hamming loss", _v(metrics["hamming_loss"])],
        ["micro F1", _v(metrics["micro"]["f1"])],
        ["macro F1", _v(metrics["macro"]["f1"])],
        ["macro ROC-AUC", _v(metrics["macro"]["roc_auc"])],
        [f"ECE ({metrics['calibration']['of']})", _v(metrics["calibration"]["ece"])],
    ]
    return [
        Table(
            f"Per label (predicted at p >= {metrics['threshold']})",
            CLASS_COLUMNS,
            _class_rows(metrics, ("micro", "macro", "weighted")),
        ),
        Table("Summary", ["metric", "value"], summary),
    ]


def scalar_tables(metrics: dict[str, Any], rows: int) -> list[Table]:
    summary = [
        ["rows", rows],
        ["Spearman", _v(metrics["spearman"])],
        ["Kendall tau-b", _v(metrics["kendall"])],
        ["Pearson", _v(metrics["pearson"])],
        ["macro AUC (label >= t)", _v(metrics["macro_auc"])],
        ["MSE", _v(metrics["mse"])],
        ["RMSE", _v(metrics["rmse"])],
        ["MAE", _v(metrics["mae"])],
        ["R²", _v(metrics["r2"])],
        ["ECE (score vs label)", _v(metrics["calibration"]["ece"])],
    ]
    tables = [Table("Summary", ["metric", "value"], summary)]
    if metrics["auc_at_least"]:
        tables.append(
            Table(
                "AUC for label >= t",
                ["threshold t", "ROC-AUC"],
                [[t, _v(a)] for t, a in metrics["auc_at_least"].items()],
            )
        )
    per_label = metrics.get("per_label") or {}
    tables.append(
        Table(
            "Scores per true label",
            ["label", "count", "mean", "std", "min", "median", "max"],
            [
                [label, s["count"], *[_v(s.get(k)) for k in ("mean", "std", "min", "median", "max")]]
                for label, s in per_label.items()
            ],
        )
    )
    return tables


def metric_tables(metrics: dict[str, Any], rows: int) -> list[Table]:
    """The tables for a results record's ``metrics``, whichever task it is."""
    task = metrics.get("task", "classification")
    if task in ("regression", "ranking"):
        return scalar_tables(metrics, rows)
    if task == "multilabel":
        return multilabel_tables(metrics, rows)
    return classification_tables(metrics, rows)


def headline(metrics: dict[str, Any]) -> list[tuple[tuple[str, ...], str]]:
    """(key path, display name) of the metrics that matter most for comparing models of a task.

    Metrics that mean the same on ordinal labels share a display name (a classifier's ordinal
    Spearman and a regressor's Spearman), so ``compare`` puts them on one row."""
    task = metrics.get("task", "classification")
    if task in ("regression", "ranking"):
        keys = [
            (("spearman",), "Spearman"),
            (("kendall",), "Kendall tau-b"),
            (("pearson",), "Pearson"),
            (("macro_auc",), "macro AUC (label >= t)"),
            (("mse",), "MSE"),
            (("mae",), "MAE"),
            (("r2",), "R²"),
            (("calibration", "ece"), "ECE"),
        ]
        keys += [(("auc_at_least", t), f"AUC label >= {t}") for t in metrics.get("auc_at_least", {})]
        return keys
    if task == "multilabel":
        keys = [
            (("subset_accuracy",), "subset accuracy"),
            (("micro", "f1"), "micro F1"),
            (("macro", "f1"), "macro F1"),
            (("macro", "roc_auc"), "macro ROC-AUC"),
            (("hamming_loss",), "Hamming loss"),
        ]
    else:
        keys = [
            (("accuracy",), "accuracy"),
            (("macro", "f1"), "macro F1"),
            (("weighted", "f1"), "weighted F1"),
            (("macro", "precision"), "macro precision"),
            (("macro", "recall"), "macro recall"),
            (("macro", "roc_auc"), "macro ROC-AUC"),
            (("macro", "average_precision"), "macro avg precision"),
            (("calibration", "ece"), "ECE"),
        ]
    keys += [(("per_class", label, "f1"), f"F1 {label}") for label in metrics.get("per_class", {})]
    ordinal = metrics.get("ordinal")
    if ordinal:
        keys += [
            (("ordinal", "mae"), "MAE"),
            (("ordinal", "spearman"), "Spearman"),
            (("ordinal", "kendall"), "Kendall tau-b"),
        ]
        keys += [(("ordinal", "auc_at_least", t), f"AUC label >= {t}") for t in ordinal["auc_at_least"]]
    return keys


def lookup(metrics: dict[str, Any], key: Sequence[str]) -> Any:
    """``lookup(m, ("macro", "f1"))`` -> ``m["macro"]["f1"]``; None when a part is missing."""
    value: Any = metrics
    for part in key:
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value
