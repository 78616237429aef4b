"""Metrics as pure functions over arrays: no I/O, no printing.

Every function returns plain Python values (floats, ints, lists, dicts) so the result can go
straight into the results YAML. A metric that is undefined for the data (an AUC with one class
present, a correlation with a constant input) is ``None``, never NaN.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

#: above this many distinct label values, "label >= t" thresholds are label deciles instead
MAX_THRESHOLDS = 20


def _num(value: Any) -> float | None:
    """A finite float, or None."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _quiet(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a scikit-learn/scipy metric with its 'undefined' warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func(*args, **kwargs)


def binary_auc(positive: np.ndarray, score: np.ndarray) -> float | None:
    """ROC-AUC of ``score`` for the boolean ``positive``; None when only one side is present."""
    from sklearn.metrics import roc_auc_score

    positive = np.asarray(positive, dtype=bool)
    if positive.all() or not positive.any():
        return None
    return _num(roc_auc_score(positive, score))


def binary_average_precision(positive: np.ndarray, score: np.ndarray) -> float | None:
    """Average precision (area under the precision-recall curve); None without positives."""
    from sklearn.metrics import average_precision_score

    positive = np.asarray(positive, dtype=bool)
    if not positive.any() or positive.all():
        return None
    return _num(average_precision_score(positive, score))


def mean_defined(values: Sequence[float | None], weights: Sequence[float] | None = None) -> float | None:
    """Mean (or weighted mean) of the defined values; None when none is defined."""
    if weights is None:
        weights = [1.0] * len(values)
    pairs = [(v, w) for v, w in zip(values, weights, strict=True) if v is not None and w > 0]
    if not pairs:
        return None
    total = sum(w for _, w in pairs)
    return _num(sum(v * w for v, w in pairs) / total)


def correlations(score: np.ndarray, target: np.ndarray) -> dict[str, float | None]:
    """Pearson, Spearman and Kendall (tau-b, which handles ties) of score against target."""
    from scipy import stats

    score = np.asarray(score, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if len(score) < 2 or np.ptp(score) == 0 or np.ptp(target) == 0:
        return {"pearson": None, "spearman": None, "kendall": None}
    return {
        "pearson": _num(_quiet(stats.pearsonr, score, target)[0]),
        "spearman": _num(_quiet(stats.spearmanr, score, target)[0]),
        "kendall": _num(_quiet(stats.kendalltau, score, target)[0]),
    }


def error_metrics(prediction: np.ndarray, target: np.ndarray) -> dict[str, float | None]:
    """MSE, RMSE, MAE and R² of a prediction on the target's scale."""
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    mse = float(mean_squared_error(target, prediction))
    r2 = _quiet(r2_score, target, prediction) if np.ptp(target) > 0 else None
    return {
        "mse": _num(mse),
        "rmse": _num(math.sqrt(mse)),
        "mae": _num(mean_absolute_error(target, prediction)),
        "r2": _num(r2),
    }


def label_thresholds(values: np.ndarray) -> list[float]:
    """The thresholds t for "label >= t": every distinct value but the lowest, or label deciles
    when there are more than :data:`MAX_THRESHOLDS` distinct values (continuous targets)."""
    distinct = np.unique(np.asarray(values, dtype=np.float64))
    if len(distinct) <= MAX_THRESHOLDS:
        return [float(v) for v in distinct[1:]]
    cuts = np.unique(np.quantile(values, np.linspace(0.1, 0.9, 9), method="higher"))
    return [float(v) for v in cuts if v > distinct[0]]


def threshold_name(value: float) -> str:
    """``2.0`` -> ``"2"``; ``0.25`` -> ``"0.25"``: the key of a threshold in results."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def auc_at_thresholds(
    score: np.ndarray | Callable[[float], np.ndarray], target: np.ndarray, thresholds: Sequence[float]
) -> dict[str, float | None]:
    """ROC-AUC of the score for "target >= t", for each threshold t.

    ``score`` is one score for every threshold, or a function giving the score to use for a
    threshold (for classifiers: the probability mass of the classes at or above it).
    """
    target = np.asarray(target, dtype=np.float64)
    result = {}
    for t in thresholds:
        s = score(t) if callable(score) else score
        result[threshold_name(t)] = binary_auc(target >= t, s)
    return result


def reliability(
    predicted: np.ndarray, observed: np.ndarray, n_bins: int = 10, low: float = 0.0, high: float = 1.0
) -> dict[str, Any]:
    """Reliability bins and the expected calibration error (ECE).

    ``predicted`` is what the model claims (a probability, or a score on the label scale) and
    ``observed`` what happened (0/1 outcomes, or label values). Predictions are put in
    ``n_bins`` equal-width bins over ``[low, high]``; ECE is the count-weighted mean gap between
    mean prediction and mean outcome per bin.
    """
    predicted = np.asarray(predicted, dtype=np.float64)
    observed = np.asarray(observed, dtype=np.float64)
    if high <= low:
        high = low + 1.0
    edges = np.linspace(low, high, n_bins + 1)
    index = np.clip(np.searchsorted(edges, predicted, side="right") - 1, 0, n_bins - 1)
    counts = np.bincount(index, minlength=n_bins)
    sum_pred = np.bincount(index, weights=predicted, minlength=n_bins)
    sum_obs = np.bincount(index, weights=observed, minlength=n_bins)
    bins = []
    ece = 0.0
    for b in range(n_bins):
        count = int(counts[b])
        entry: dict[str, Any] = {"low": float(edges[b]), "high": float(edges[b + 1]), "count": count}
        if count:
            mean_pred = sum_pred[b] / count
            mean_obs = sum_obs[b] / count
            entry["mean_predicted"] = float(mean_pred)
            entry["mean_observed"] = float(mean_obs)
            ece += count * abs(mean_pred - mean_obs)
        bins.append(entry)
    total = int(counts.sum())
    return {"ece": float(ece / total) if total else None, "bins": bins}


def ordinal_values(labels: Sequence[str]) -> list[float] | None:
    """The numeric values of the class names when every one is a number and there are at least
    three of them (multi-class ordinal labels such as 0..5 ratings); otherwise None."""
    if len(labels) < 3:
        return None
    try:
        values = [float(label) for label in labels]
    except ValueError:
        return None
    if len(set(values)) != len(values) or not all(math.isfinite(v) for v in values):
        return None
    return values


def classification_metrics(
    y_true: np.ndarray, proba: np.ndarray, labels: Sequence[str], n_bins: int = 10
) -> dict[str, Any]:
    """Metrics of class probabilities ``proba`` (n, k) against true class indices ``y_true`` (n,).

    The predicted class is the most probable one. Per class: precision, recall, F1, support,
    one-vs-rest ROC-AUC and average precision; their macro and support-weighted averages;
    accuracy; the confusion matrix (rows: true class, columns: predicted class); reliability
    (for two classes the positive class probability, the second label; otherwise the top-label
    confidence); and ordinal metrics when the class names are numbers (see :func:`ordinal_metrics`).
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    y_true = np.asarray(y_true, dtype=np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    k = len(labels)
    if proba.ndim != 2 or proba.shape != (len(y_true), k):
        raise ValueError(f"probabilities of shape {proba.shape} do not match {len(y_true)} rows x {k} labels")
    y_pred = proba.argmax(axis=1)
    indices = list(range(k))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=indices, zero_division=0
    )
    per_class: dict[str, dict[str, Any]] = {}
    for i, label in enumerate(labels):
        positive = y_true == i
        per_class[str(label)] = {
            "precision": _num(precision[i]),
            "recall": _num(recall[i]),
            "f1": _num(f1[i]),
            "support": int(support[i]),
            "roc_auc": binary_auc(positive, proba[:, i]),
            "average_precision": binary_average_precision(positive, proba[:, i]),
        }
    weights = [float(s) for s in support]
    averages = {}
    for name, w in (("macro", None), ("weighted", weights)):
        averages[name] = {
            metric: mean_defined([c[metric] for c in per_class.values()], w)
            for metric in ("precision", "recall", "f1", "roc_auc", "average_precision")
        }
    if k == 2:
        calibration = reliability(proba[:, 1], y_true == 1, n_bins)
        calibration["of"] = f"probability of '{labels[1]}'"
    else:
        calibration = reliability(proba.max(axis=1), y_pred == y_true, n_bins)
        calibration["of"] = "top-label confidence"
    result: dict[str, Any] = {
        "accuracy": _num(accuracy_score(y_true, y_pred)) if len(y_true) else None,
        "macro": averages["macro"],
        "weighted": averages["weighted"],
        "per_class": per_class,
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=indices).tolist(),
        "calibration": calibration,
    }
    values = ordinal_values(labels)
    if values is not None:
        result["ordinal"] = ordinal_metrics(y_true, proba, values)
    return result


def ordinal_metrics(y_true: np.ndarray, proba: np.ndarray, values: Sequence[float]) -> dict[str, Any]:
    """Metrics that use the order of numeric class names (ratings such as 0..5).

    ``mae`` compares the most probable class's value with the true value; ``mae_expected`` and
    the correlations use the expected value (sum of probability times class value), a finer
    ranking score; ``auc_at_least[t]`` is the ROC-AUC of P(label >= t) for "label >= t".
    """
    values_arr = np.asarray(values, dtype=np.float64)
    truth = values_arr[np.asarray(y_true, dtype=np.int64)]
    predicted = values_arr[proba.argmax(axis=1)]
    expected = proba @ values_arr
    thresholds = sorted(values_arr)[1:]

    def mass_at_least(t: float) -> np.ndarray:
        return proba[:, values_arr >= t].sum(axis=1)

    from sklearn.metrics import mean_absolute_error

    return {
        "mae": _num(mean_absolute_error(truth, predicted)),
        "mae_expected": _num(mean_absolute_error(truth, expected)),
        **{k: v for k, v in correlations(expected, truth).items() if k != "pearson"},
        "auc_at_least": auc_at_thresholds(mass_at_least, truth, thresholds),
    }


def scalar_metrics(scores: np.ndarray, target: np.ndarray, n_bins: int = 10) -> dict[str, Any]:
    """Metrics of one score per text (regression and ranking models) against numeric labels:
    MSE, RMSE, MAE, R², Pearson, Spearman, Kendall, the ROC-AUC of the score for "label >= t"
    at every label threshold, and reliability of the score against the label on its range."""
    scores = np.asarray(scores, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if scores.shape != target.shape:
        raise ValueError(f"{len(scores)} scores for {len(target)} labels")
    low, high = (float(target.min()), float(target.max())) if len(target) else (0.0, 1.0)
    aucs = auc_at_thresholds(scores, target, label_thresholds(target))
    return {
        **error_metrics(scores, target),
        **correlations(scores, target),
        "auc_at_least": aucs,
        "macro_auc": mean_defined(list(aucs.values())),
        "calibration": {**reliability(scores, target, n_bins, low, high), "of": "score vs label"},
    }


def multilabel_metrics(y_true: np.ndarray, proba: np.ndarray, labels: Sequence[str], threshold: float = 0.5):
    """Metrics of independent per-label probabilities (n, k) against a 0/1 matrix (n, k).

    A label is predicted when its probability reaches ``threshold``. Per label: precision,
    recall, F1, support, ROC-AUC, average precision; macro, weighted and micro averages; subset
    accuracy (every label right) and Hamming loss.
    """
    from sklearn.metrics import accuracy_score, hamming_loss, precision_recall_fscore_support

    y_true = np.asarray(y_true, dtype=np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    y_pred = (proba >= threshold).astype(np.int64)
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, zero_division=0)
    per_class = {}
    for i, label in enumerate(labels):
        per_class[str(label)] = {
            "precision": _num(precision[i]),
            "recall": _num(recall[i]),
            "f1": _num(f1[i]),
            "support": int(support[i]),
            "roc_auc": binary_auc(y_true[:, i], proba[:, i]),
            "average_precision": binary_average_precision(y_true[:, i], proba[:, i]),
        }
    weights = [float(s) for s in support]
    averages = {
        name: {
            metric: mean_defined([c[metric] for c in per_class.values()], w)
            for metric in ("precision", "recall", "f1", "roc_auc", "average_precision")
        }
        for name, w in (("macro", None), ("weighted", weights))
    }
    micro_p, micro_r, micro_f1, _ = precision_recall_fscore_support(
        y_true, y_pred, average="micro", zero_division=0
    )
    return {
        "subset_accuracy": _num(accuracy_score(y_true, y_pred)),
        "hamming_loss": _num(hamming_loss(y_true, y_pred)),
        "threshold": threshold,
        "macro": averages["macro"],
        "weighted": averages["weighted"],
        "micro": {"precision": _num(micro_p), "recall": _num(micro_r), "f1": _num(micro_f1)},
        "per_class": per_class,
        "calibration": {
            **reliability(proba.ravel(), y_true.ravel(), 10),
            "of": "per-label probability",
        },
    }


def score_summary(scores: np.ndarray, groups: np.ndarray, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Count, mean, std, min, median and max of the scores of each group (true label)."""
    scores = np.asarray(scores, dtype=np.float64)
    result = {}
    for i, name in enumerate(names):
        s = scores[groups == i]
        if not len(s):
            result[str(name)] = {"count": 0}
            continue
        result[str(name)] = {
            "count": int(len(s)),
            "mean": float(s.mean()),
            "std": float(s.std()),
            "min": float(s.min()),
            "median": float(np.median(s)),
            "max": float(s.max()),
        }
    return result
