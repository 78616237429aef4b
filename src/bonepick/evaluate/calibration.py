"""Scores against ordinal labels: how well a score ranks and calibrates, and fitting a mapping
from model outputs to the label scale that can be applied with one jq expression.

Inputs are rows that already carry a model's output (for example ``infer --output inline`` on
labelled data) and a label: ``-p`` picks the output with jq (a number, a list of numbers or an
object of numbers; or several ``-p``, one number each), ``-l`` the label.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bonepick.data.expressions import Expression
from bonepick.errors import DataError, UsageError
from bonepick.evaluate import metrics as M
from bonepick.evaluate.sources import resolve_sources
from bonepick.io.jsonl import iter_rows_sized
from bonepick.pipeline.progress import NullProgress, ProgressSink

METHODS = ("linear", "log-linear")
LOG_FLOOR = 1e-6  # outputs are floored here before the log of the log-linear mapping
SCALES = ("auto", "unit", "label")


@dataclass
class ScoredRows:
    """Model outputs (n, f) and numeric labels (n,) read from a dataset."""

    features: np.ndarray
    feature_names: list[str]
    source: str  # the jq expression that yields the outputs of one row
    shape: str  # "number" | "list" | "object": how a row's outputs are addressed in jq
    labels: np.ndarray
    files: int
    dataset_dirs: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.labels)


def _number(value: Any, what: str, path: Path, line: int) -> float:
    if isinstance(value, bool) or value is None:
        raise DataError(f"{what} gave {json.dumps(value)}, expected a number", path, line)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DataError(f"{what} gave {json.dumps(value)[:60]}, expected a number", path, line) from None
    if not math.isfinite(number):
        raise DataError(f"{what} gave {value}, expected a finite number", path, line)
    return number


def read_scored_rows(
    dataset_dirs: Sequence[str | Path],
    prediction_expressions: Sequence[str],
    label_expression: str,
    split: str = "test",
    progress: ProgressSink | None = None,
) -> ScoredRows:
    """Read outputs and labels of every row of ``split`` (or of a folder without splits)."""
    if not prediction_expressions:
        raise UsageError("no prediction expression", hint="pass -p with a jq expression such as '.score'")
    sources = resolve_sources(dataset_dirs, split)
    if any(s.format != "jsonl" for s in sources):
        raise UsageError("calibration reads JSON Lines rows that carry a model's output, not fastText files")
    preds = [Expression(e) for e in prediction_expressions]
    label_expr = Expression(label_expression)
    progress = progress or NullProgress()
    several = len(preds) > 1
    shape = "list" if several else ""
    names: list[str] = [e.source for e in preds] if several else []
    features: list[list[float]] = []
    labels: list[float] = []
    progress.start("read scores", len(sources))
    try:
        for source in sources:
            path = source.path
            for line, row, size in iter_rows_sized(path):
                labels.append(
                    _number(
                        label_expr.first(row, path, line),
                        f"label expression '{label_expression}'",
                        path,
                        line,
                    )
                )
                if several:
                    features.append(
                        [_number(e.first(row, path, line), f"'{e.source}'", path, line) for e in preds]
                    )
                else:
                    value = preds[0].first(row, path, line)
                    if not shape:
                        shape, names = _shape_of(value, preds[0].source, path, line)
                    features.append(_outputs(value, shape, names, preds[0].source, path, line))
                progress.rows(1, size)
            progress.shard_done()
    finally:
        progress.stop()
    if not labels:
        where = ", ".join(str(d) for d in dataset_dirs)
        raise DataError(f"no rows to read in {where} ({split})")
    source = preds[0].source if not several else "[" + ", ".join(f"({e.source})" for e in preds) + "]"
    return ScoredRows(
        features=np.asarray(features, dtype=np.float64),
        feature_names=names,
        source=source,
        shape=shape,
        labels=np.asarray(labels, dtype=np.float64),
        files=len(sources),
        dataset_dirs=[str(d) for d in dataset_dirs],
    )


def _shape_of(value: Any, expr: str, path: Path, line: int) -> tuple[str, list[str]]:
    if isinstance(value, dict):
        if not value:
            raise DataError(f"'{expr}' gave an empty object", path, line)
        return "object", sorted(str(k) for k in value)
    if isinstance(value, list):
        if not value:
            raise DataError(f"'{expr}' gave an empty list", path, line)
        return "list", [f"[{i}]" for i in range(len(value))]
    return "number", [expr]


def _outputs(value: Any, shape: str, names: list[str], expr: str, path: Path, line: int) -> list[float]:
    what = f"'{expr}'"
    if shape == "number":
        return [_number(value, what, path, line)]
    if shape == "list":
        if not isinstance(value, list) or len(value) != len(names):
            raise DataError(
                f"{what} gave {json.dumps(value)[:60]}, expected a list of {len(names)} numbers", path, line
            )
        return [_number(v, what, path, line) for v in value]
    if not isinstance(value, dict) or sorted(map(str, value)) != names:
        raise DataError(
            f"{what} gave {json.dumps(value)[:80]}, expected an object with keys {', '.join(names)}",
            path,
            line,
        )
    return [_number(value[k], f"{what} key '{k}'", path, line) for k in names]


# --------------------------------------------------------------------------- eval-calibration


def _adjacent_auc(score: np.ndarray, labels: np.ndarray, values: np.ndarray) -> float | None:
    """Mean ROC-AUC between neighbouring label values (does the score tell 2 from 3?)."""
    aucs = []
    for low, high in zip(values[:-1], values[1:], strict=True):
        mask = (labels == low) | (labels == high)
        auc = M.binary_auc(labels[mask] == high, score[mask])
        if auc is not None:
            aucs.append(auc)
    return float(np.mean(aucs)) if aucs else None


def calibration_metrics(
    score: np.ndarray, labels: np.ndarray, n_bins: int = 10, scale: str = "auto"
) -> dict[str, Any]:
    """How well one score per row ranks and calibrates against numeric (ordinal) labels.

    Ranking: ROC-AUC of the score for "label >= t" at every threshold (macro, and weighted by
    the rows at or above t), the mean AUC between adjacent label values, Spearman and Kendall.
    Calibration: Pearson, MSE, RMSE, MAE, R² and the expected calibration error (ECE) of the
    score against the label, on the label's own scale, or, with ``scale="unit"`` (the ``auto``
    choice when every score lies in [0, 1] and the labels do not), against the label mapped
    linearly to [0, 1] (lowest label 0, highest 1).
    """
    if scale not in SCALES:
        raise UsageError(f"unknown scale '{scale}'", hint=f"use one of: {', '.join(SCALES)}")
    score = np.asarray(score, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    values = np.unique(labels)
    low, high = float(values[0]), float(values[-1])
    if scale == "auto":
        in_unit = score.min() >= 0 and score.max() <= 1
        scale = "unit" if in_unit and (low < 0 or high > 1) else "label"
    if scale == "unit":
        target = (labels - low) / (high - low) if high > low else np.zeros_like(labels)
        lo, hi = 0.0, 1.0
    else:
        target = labels
        lo, hi = low, high
    thresholds = M.label_thresholds(labels)
    aucs = M.auc_at_thresholds(score, labels, thresholds)
    positives = [int((labels >= t).sum()) for t in thresholds]
    names = [M.threshold_name(v) for v in values] if len(values) <= M.MAX_THRESHOLDS else None
    result: dict[str, Any] = {
        "rows": int(len(labels)),
        "label_values": [float(v) for v in values] if names else {"min": low, "max": high},
        "score_range": {"min": float(score.min()), "max": float(score.max())},
        "scale": scale,
        "auc": {
            "macro": M.mean_defined(list(aucs.values())),
            "weighted": M.mean_defined(list(aucs.values()), positives),
            "ordinal": _adjacent_auc(score, labels, values) if names else None,
            "at_least": aucs,
        },
        "correlation": M.correlations(score, labels),
        "error": M.error_metrics(score, target),
        "calibration": {
            **M.reliability(score, target, n_bins, lo, hi),
            "of": f"score vs label ({scale} scale)",
        },
    }
    if names:
        groups = np.searchsorted(values, labels)
        result["per_label"] = M.score_summary(score, groups, names)
    return result


# --------------------------------------------------------------------------- train-calibration


@dataclass
class CalibrationFit:
    """A mapping ``label ≈ clip(bias + Σ w_i · f(x_i), low, high)``; f is the identity
    (linear) or ``ln(max(x, 1e-6))`` (log-linear)."""

    method: str
    weights: dict[str, float]
    bias: float
    low: float
    high: float
    source: str
    shape: str
    quality: dict[str, Any] = field(default_factory=dict)

    def transform(self, features: np.ndarray) -> np.ndarray:
        x = _design(np.asarray(features, dtype=np.float64), self.method)
        w = np.array(list(self.weights.values()), dtype=np.float64)
        return np.clip(x @ w + self.bias, self.low, self.high)

    def jq(self) -> str:
        return calibration_jq(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "prediction_expression": self.source,
            "weights": self.weights,
            "bias": self.bias,
            "clip": [self.low, self.high],
            "jq": self.jq(),
            "quality": self.quality,
        }


def _design(features: np.ndarray, method: str) -> np.ndarray:
    if method == "log-linear":
        return np.log(np.maximum(features, LOG_FLOOR))
    return features


def fit_calibration(data: ScoredRows, method: str = "linear") -> CalibrationFit:
    """Least-squares fit of the labels on the outputs (or their logs), clipped to the label range."""
    from sklearn.linear_model import LinearRegression

    if method not in METHODS:
        raise UsageError(f"unknown calibration method '{method}'", hint=f"use one of: {', '.join(METHODS)}")
    if data.rows < data.features.shape[1] + 1:
        raise DataError(f"{data.rows} rows are too few to fit {data.features.shape[1] + 1} parameters")
    x = _design(data.features, method)
    model = LinearRegression().fit(x, data.labels)
    low, high = float(data.labels.min()), float(data.labels.max())
    fit = CalibrationFit(
        method=method,
        weights={name: float(w) for name, w in zip(data.feature_names, model.coef_, strict=True)},
        bias=float(model.intercept_),
        low=low,
        high=high,
        source=data.source,
        shape=data.shape,
    )
    mapped = fit.transform(data.features)
    fit.quality = {
        "rows": data.rows,
        "fitted": {**M.error_metrics(mapped, data.labels), **M.correlations(mapped, data.labels)},
        "inputs": {
            name: M.correlations(data.features[:, i], data.labels)["spearman"]
            for i, name in enumerate(data.feature_names)
        },
    }
    return fit


def _num(value: float) -> str:
    text = f"{value:.10g}"
    return f"({text})" if text.startswith("-") else text


def _term(fit: CalibrationFit, index: int, name: str) -> str:
    if fit.shape == "number":
        ref = "."
    elif fit.shape == "list":
        ref = f".[{index}]"
    else:
        ref = "." + json.dumps(name, ensure_ascii=False)
    if fit.method == "log-linear":
        ref = f"({ref} | if . < {LOG_FLOOR:g} then {LOG_FLOOR:g} else . end | log)"
    return f"{ref} * {_num(fit.weights[name])}"


def calibration_jq(fit: CalibrationFit) -> str:
    """A jq expression that maps a row to its calibrated score, clipped to the label range."""
    terms = [_term(fit, i, name) for i, name in enumerate(fit.weights)]
    body = " + ".join(f"({t})" for t in terms) + f" + {_num(fit.bias)}"
    low, high = _num(fit.low), _num(fit.high)
    return f"({fit.source}) | ({body}) | if . < {low} then {low} elif . > {high} then {high} else . end"
