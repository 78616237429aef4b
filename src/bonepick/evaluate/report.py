"""Plots (PNG, matplotlib without a display) and one self-contained ``report.html``.

Every figure is drawn on its own :class:`matplotlib.figure.Figure` (no pyplot global state) at
:data:`FIGSIZE` inches and :data:`DPI`, so every PNG is exactly :data:`PIXELS` wide and high.
The HTML embeds the PNGs as base64, so the one file can be mailed or attached to an issue.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bonepick.evaluate.tables import Table, metric_tables
from bonepick.io.atomic import atomic_path, atomic_write_text

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from bonepick.evaluate.evaluate import Evaluation

FIGSIZE = (8.0, 6.0)
DPI = 100
PIXELS = (int(FIGSIZE[0] * DPI), int(FIGSIZE[1] * DPI))
MAX_CURVES = 16  # more classes than this are not drawn one curve each
HTML_FILE = "report.html"


def _figure() -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")


def _save(fig: Figure, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
    return path


def plot_roc(path: Path, curves: Sequence[tuple[str, np.ndarray, np.ndarray]], title: str) -> Path:
    """ROC curves; each curve is (name, positive mask, score)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fig = _figure()
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="0.7", linestyle="--", linewidth=1)
    for name, positive, score in curves[:MAX_CURVES]:
        if positive.all() or not positive.any():
            continue
        fpr, tpr, _ = roc_curve(positive, score)
        ax.plot(fpr, tpr, linewidth=1.5, label=f"{name} (AUC {roc_auc_score(positive, score):.3f})")
    ax.set(
        xlim=(0, 1), ylim=(0, 1.01), xlabel="false positive rate", ylabel="true positive rate", title=title
    )
    ax.legend(loc="lower right", fontsize="small")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_pr(path: Path, curves: Sequence[tuple[str, np.ndarray, np.ndarray]], title: str) -> Path:
    """Precision-recall curves; each curve is (name, positive mask, score)."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    fig = _figure()
    ax = fig.add_subplot()
    for name, positive, score in curves[:MAX_CURVES]:
        if positive.all() or not positive.any():
            continue
        precision, recall, _ = precision_recall_curve(positive, score)
        ap = average_precision_score(positive, score)
        line = ax.plot(recall, precision, linewidth=1.5, label=f"{name} (AP {ap:.3f})")
        ax.axhline(positive.mean(), color=line[0].get_color(), linestyle=":", linewidth=1)  # chance level
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="recall", ylabel="precision", title=title)
    ax.legend(loc="lower left", fontsize="small")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_confusion(path: Path, matrix: Sequence[Sequence[int]], labels: Sequence[str]) -> Path:
    """Confusion matrix: counts in the cells, colour by share of the true class (row)."""
    counts = np.asarray(matrix, dtype=np.float64)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig = _figure()
    ax = fig.add_subplot()
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, label="share of the true class")
    k = len(labels)
    ax.set_xticks(
        range(k), labels=list(labels), rotation=45 if k > 4 else 0, ha="right" if k > 4 else "center"
    )
    ax.set_yticks(range(k), labels=list(labels))
    ax.set(xlabel="predicted", ylabel="true", title="Confusion matrix")
    if k <= 20:
        for i in range(k):
            for j in range(k):
                color = "white" if shares[i, j] > 0.5 else "black"
                ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", color=color, fontsize="small")
    return _save(fig, path)


def plot_histograms(
    path: Path, groups: Sequence[tuple[str, np.ndarray]], xlabel: str, title: str, bins: int = 30
) -> Path:
    """Overlaid, density-normalised histograms of a score, one per group (true label)."""
    fig = _figure()
    ax = fig.add_subplot()
    values = [v for _, v in groups if len(v)]
    if values:
        low = min(float(v.min()) for v in values)
        high = max(float(v.max()) for v in values)
        edges = np.linspace(low, high if high > low else low + 1, bins + 1)
        for i, (name, v) in enumerate(groups[:MAX_CURVES]):
            if len(v):
                color = f"C{i % 10}"
                ax.hist(v, bins=edges, density=True, histtype="stepfilled", alpha=0.3, color=color)
                ax.hist(
                    v,
                    bins=edges,
                    density=True,
                    histtype="step",
                    linewidth=1.2,
                    color=color,
                    label=f"{name} (n={len(v)})",
                )
    ax.set(xlabel=xlabel, ylabel="density", title=title)
    ax.legend(title="true label", fontsize="small")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_histogram_grid(path: Path, panels: Sequence[tuple[str, np.ndarray, np.ndarray]], title: str) -> Path:
    """One small panel per class: its probability for rows of that class against all other rows."""
    import math

    panels = list(panels)[:MAX_CURVES]
    cols = math.ceil(math.sqrt(len(panels)))
    rows = math.ceil(len(panels) / cols)
    fig = _figure()
    axes = np.atleast_1d(fig.subplots(rows, cols, sharex=True, squeeze=False)).ravel()
    edges = np.linspace(0, 1, 21)
    for ax, (name, own, other) in zip(axes, panels, strict=False):
        if len(other):
            ax.hist(other, bins=edges, density=True, color="0.6", alpha=0.6, label="other rows")
        if len(own):
            ax.hist(own, bins=edges, density=True, color="C0", alpha=0.6, label="this class")
        ax.set_title(f"{name} (n={len(own)})", fontsize="small")
        ax.tick_params(labelsize="x-small")
        ax.set_yticks([])
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    axes[0].legend(fontsize="x-small")
    fig.suptitle(title)
    fig.supxlabel("predicted probability of the class", fontsize="small")
    return _save(fig, path)


def plot_reliability(
    path: Path, calibration: dict[str, Any], xlabel: str, ylabel: str, low: float = 0.0, high: float = 1.0
) -> Path:
    """Reliability diagram: mean outcome against mean prediction per bin, and the bin counts."""
    bins = [b for b in calibration["bins"] if b["count"]]
    fig = _figure()
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    top.plot([low, high], [low, high], color="0.7", linestyle="--", linewidth=1, label="perfectly calibrated")
    if bins:
        top.plot(
            [b["mean_predicted"] for b in bins],
            [b["mean_observed"] for b in bins],
            marker="o",
            linewidth=1.5,
            label=f"model (ECE {calibration['ece']:.3f})",
        )
    top.set(ylabel=ylabel, title=f"Reliability: {calibration.get('of', '')}", xlim=(low, high))
    top.legend(loc="upper left", fontsize="small")
    top.grid(alpha=0.3)
    all_bins = calibration["bins"]
    bottom.bar(
        [(b["low"] + b["high"]) / 2 for b in all_bins],
        [b["count"] for b in all_bins],
        width=[(b["high"] - b["low"]) * 0.9 for b in all_bins],
        color="0.5",
    )
    bottom.set(xlabel=xlabel, ylabel="rows")
    return _save(fig, path)


def _curves(evaluation: Evaluation) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, positive mask, score) per class, label or label threshold."""
    truth, pred, labels = evaluation.truth, evaluation.predictions, evaluation.labels
    if evaluation.is_scalar:
        thresholds = evaluation.metrics["auc_at_least"]
        return [(f"label >= {t}", truth >= float(t), pred) for t in thresholds]
    if evaluation.task == "multilabel":
        return [(label, truth[:, i] == 1, pred[:, i]) for i, label in enumerate(labels)]
    if len(labels) == 2:
        return [(labels[1], truth == 1, pred[:, 1])]
    return [(label, truth == i, pred[:, i]) for i, label in enumerate(labels)]


def _histogram_groups(evaluation: Evaluation) -> tuple[list[tuple[str, np.ndarray]], str]:
    truth, pred, labels = evaluation.truth, evaluation.predictions, evaluation.labels
    if evaluation.is_scalar:
        groups = evaluation.truth_groups()
        return [(label, pred[groups == i]) for i, label in enumerate(labels)], "score"
    if evaluation.task == "multilabel":
        return [
            (f"with {labels[0]}", pred[truth[:, 0] == 1, 0]),
            (f"without {labels[0]}", pred[truth[:, 0] == 0, 0]),
        ], (f"P({labels[0]})")
    if len(labels) == 2:
        return [(label, pred[truth == i, 1]) for i, label in enumerate(labels)], f"P({labels[1]})"
    values = np.asarray([float(label) for label in labels])  # ordinal: numeric class names
    expected = pred @ values
    return [(label, expected[truth == i]) for i, label in enumerate(labels)], "expected label value"


def write_plots(evaluation: Evaluation, report_dir: Path) -> dict[str, Path]:
    """Every plot that fits the evaluation's task, by name."""
    report_dir.mkdir(parents=True, exist_ok=True)
    metrics = evaluation.metrics
    curves = _curves(evaluation)
    what = "label >= t" if evaluation.is_scalar else "one vs rest"
    plots = {
        "roc": plot_roc(report_dir / "roc.png", curves, f"ROC curves ({what})"),
        "pr": plot_pr(report_dir / "pr.png", curves, f"Precision-recall curves ({what})"),
    }
    if evaluation.task == "classification":
        plots["confusion"] = plot_confusion(
            report_dir / "confusion.png", metrics["confusion_matrix"], evaluation.labels
        )
    if evaluation.task == "classification" and len(evaluation.labels) > 2 and "ordinal" not in metrics:
        truth, pred = evaluation.truth, evaluation.predictions
        panels = [
            (label, pred[truth == i, i], pred[truth != i, i]) for i, label in enumerate(evaluation.labels)
        ]
        plots["histograms"] = plot_histogram_grid(
            report_dir / "histograms.png", panels, "Probability of each class: rows of that class vs the rest"
        )
    else:
        groups, xlabel = _histogram_groups(evaluation)
        plots["histograms"] = plot_histograms(
            report_dir / "histograms.png", groups, xlabel, f"Distribution of {xlabel} per true label"
        )
    calibration = metrics["calibration"]
    if evaluation.is_scalar:
        low, high = calibration["bins"][0]["low"], calibration["bins"][-1]["high"]
        plots["reliability"] = plot_reliability(
            report_dir / "reliability.png", calibration, "score", "mean true label", low, high
        )
    else:
        plots["reliability"] = plot_reliability(
            report_dir / "reliability.png", calibration, "predicted probability", "observed frequency"
        )
    return plots


def plot_calibration_scores(
    plot_dir: str | Path, score: np.ndarray, labels: np.ndarray, result: dict[str, Any]
) -> list[Path]:
    """eval-calibration's plots: score histograms per label and the reliability diagram."""
    plot_dir = Path(plot_dir)
    plot_dir.mkdir(parents=True, exist_ok=True)
    per_label = result.get("per_label") or {}
    if per_label:
        values = np.unique(labels)
        groups = [(name, score[labels == v]) for name, v in zip(per_label, values, strict=True)]
    else:
        groups = [("all", score)]
    calibration = result["calibration"]
    low, high = calibration["bins"][0]["low"], calibration["bins"][-1]["high"]
    ylabel = "mean label (mapped to [0, 1])" if result["scale"] == "unit" else "mean label"
    return [
        plot_histograms(plot_dir / "histogram.png", groups, "score", "Score distribution per label"),
        plot_reliability(plot_dir / "calibration.png", calibration, "score", ylabel, low, high),
    ]


PLOT_TITLES = {
    "roc": "ROC curves",
    "pr": "Precision-recall curves",
    "confusion": "Confusion matrix",
    "histograms": "Score distributions per true label",
    "reliability": "Reliability (calibration) diagram",
}


def _html_table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    body = []
    for row in table.rows:
        cells = []
        for value in row:
            if isinstance(value, float):
                text = f"{value:.4f}"
            elif isinstance(value, int) and not isinstance(value, bool):
                text = f"{value:,}"
            else:
                text = str(value)
            cells.append(f"<td>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f"<h2>{html.escape(table.title)}</h2>\n<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n"
        + "\n".join(body)
        + "\n</tbody>\n</table>"
    )


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; }
td { text-align: right; font-variant-numeric: tabular-nums; }
td:first-child, th:first-child { text-align: left; }
thead { background: #f0f0f0; }
figure { margin: 1em 0 2em 0; }
figcaption { font-weight: bold; margin-bottom: 0.4em; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; }
dt { font-weight: bold; }
"""


def render_html(
    title: str, facts: Sequence[tuple[str, str]], tables: Sequence[Table], plots: dict[str, Path]
) -> str:
    """A self-contained HTML page: facts, tables, then every plot embedded as a base64 PNG."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<dl>" + "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in facts) + "</dl>",
    ]
    parts += [_html_table(t) for t in tables]
    parts.append("<h2>Plots</h2>")
    for name, path in plots.items():
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        caption = PLOT_TITLES.get(name, name)
        parts.append(
            f'<figure id="{html.escape(name)}"><figcaption>{html.escape(caption)} '
            f"({html.escape(Path(path).name)})</figcaption>"
            f'<img src="data:image/png;base64,{data}" alt="{html.escape(caption)}" '
            f'data-file="{html.escape(Path(path).name)}" width="{PIXELS[0]}" height="{PIXELS[1]}"></figure>'
        )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(
    evaluation: Evaluation, report_dir: str | Path, record: dict[str, Any] | None = None
) -> Path:
    """Plots plus ``report.html`` (and a copy of the results YAML) in ``report_dir``."""
    from bonepick.evaluate.results import write_results

    report_dir = Path(report_dir)
    plots = write_plots(evaluation, report_dir)
    record = record or evaluation.record()
    write_results(report_dir / "results.yaml", record)
    card = evaluation.card
    facts = [
        ("model", str(evaluation.model_dir)),
        ("kind / task", f"{card.kind} / {card.task}"),
        ("test data", ", ".join(str(d) for d in evaluation.dataset_dirs) + f" ({evaluation.options.split})"),
        ("rows", f"{evaluation.rows:,}"),
        ("signature", evaluation.signature),
        ("normalizer", str(card.normalizer)),
        ("max length", str(card.max_length)),
        ("created", evaluation.created),
    ]
    page = render_html(
        f"Evaluation of {evaluation.model_dir.resolve().name}",
        facts,
        metric_tables(evaluation.metrics, evaluation.rows),
        plots,
    )
    path = report_dir / HTML_FILE
    atomic_write_text(path, page)
    return path
