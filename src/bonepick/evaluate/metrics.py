"""Metrics as pure functions over arrays: no I/O, no printing.

Every function returns plain Python values (floats, ints, lists, dicts) so the result can go
straight into the results YAML. A metric that is undefined for the data (an AUC with one class
present, a correlation with a constant input) is ``None``, never NaN.

Everything here is NumPy, not scikit-learn or SciPy, on purpose: importing ``sklearn.metrics``
takes about 1.0 s (it loads ``scipy.stats`` and pandas; ``scipy.stats`` alone 0.7 s) with warm
bytecode on our machine, which was half the wall time of ``bonepick eval-fasttext`` on a
5,000-document test set, and eval is a command people run in loops. Each function computes the
same number as its scikit-learn / SciPy counterpart (named in its docstring), and
``tests/unit/evaluate/test_metrics_oracle.py`` checks that against those libraries on random,
tie-heavy and degenerate data.
"""

from __future__ import annotations

import math
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


def ranking_metrics(positive: np.ndarray, score: np.ndarray) -> tuple[float | None, float | None]:
    """(ROC-AUC, average precision) of ``score`` for the boolean ``positive``, from one sort;
    both None when only one side is present.

    Rows are walked from the highest score down, one step per distinct score (tied rows move
    together): ROC-AUC is the area under the (false positives, true positives) steps with each
    step's trapezoid, which is scikit-learn's ``roc_auc_score`` (ties count one half), and
    average precision is the sum of recall gained times precision at each step,
    scikit-learn's ``average_precision_score``. Counts are integers, so the areas are exact
    up to the final division.
    """
    positive = np.asarray(positive, dtype=bool)
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None, None
    score = np.asarray(score)
    order = np.argsort(score)[::-1]  # the order of tied rows does not matter
    hits = positive[order]
    # the last row of each run of equal scores: one threshold per distinct score
    ends = np.r_[np.flatnonzero(np.diff(score[order])), len(hits) - 1]
    true_pos = np.cumsum(hits, dtype=np.int64)[ends]
    false_pos = ends + 1 - true_pos
    true_before = np.r_[0, true_pos[:-1]]
    false_before = np.r_[0, false_pos[:-1]]
    area = int(np.sum((false_pos - false_before) * (true_pos + true_before)))
    auc = area / (2 * n_pos * n_neg)
    average_precision = float(np.sum((true_pos - true_before) * (true_pos / (ends + 1)))) / n_pos
    return _num(auc), _num(average_precision)


def binary_auc(positive: np.ndarray, score: np.ndarray) -> float | None:
    """ROC-AUC of ``score`` for the boolean ``positive`` (see :func:`ranking_metrics`)."""
    return ranking_metrics(positive, score)[0]


def binary_average_precision(positive: np.ndarray, score: np.ndarray) -> float | None:
    """Average precision of ``score`` for the boolean ``positive`` (see :func:`ranking_metrics`)."""
    return ranking_metrics(positive, score)[1]


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing their average rank (``scipy.stats.rankdata``)."""
    order = np.argsort(values)  # any order of tied values gives them the same average
    ordered = values[order]
    new = np.r_[True, ordered[1:] != ordered[:-1]]
    starts = np.flatnonzero(new)
    ends = np.r_[starts[1:], len(values)]
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = ((starts + 1 + ends) / 2)[np.cumsum(new) - 1]
    return ranks


def _class_counts(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """The confusion matrix (rows: true class, columns: predicted class)."""
    return np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)


def _precision_recall_f1(
    true_pos: np.ndarray, predicted: np.ndarray, support: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and F1 from counts of true positives, predictions and true members,
    0 where undefined (scikit-learn's ``precision_recall_fscore_support``, ``zero_division=0``)."""
    true_pos = np.asarray(true_pos, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, true_pos / predicted, 0.0)
        recall = np.where(support > 0, true_pos / support, 0.0)
        denominator = predicted + support  # 2 tp + fp + fn
        f1 = np.where(denominator > 0, 2 * true_pos / denominator, 0.0)
    return precision, recall, f1


def mean_defined(values: Sequence[float | None], weights: Sequence[float] | None = None) -> float | None:
    """Mean (or weighted mean) of the defined values; None when none is defined."""
    if weights is None:
        weights = [1.0] * len(values)
    pairs = [(v, w) for v, w in zip(values, weights, strict=True) if v is not None and w > 0]
    if not pairs:
        return None
    total = sum(w for _, w in pairs)
    return _num(sum(v * w for v, w in pairs) / total)


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's r of two non-constant float64 arrays (``scipy.stats.pearsonr``'s statistic)."""
    xm = x - x.mean()
    ym = y - y.mean()
    r = np.dot(xm / np.linalg.norm(xm), ym / np.linalg.norm(ym))
    return float(min(1.0, max(-1.0, r)))


def _dense_ranks(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(stable ascending order, 0-based dense rank of each value in that order)."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    return order, np.cumsum(np.r_[False, ordered[1:] != ordered[:-1]])


def _tied_pairs(dense: np.ndarray) -> int:
    """Pairs of equal values among dense integer ranks."""
    counts = np.bincount(dense).astype(np.int64)
    return int((counts * (counts - 1) // 2).sum())


#: up to this many distinct values, inversions are counted value by value (O(n) per value)
_FEW_VALUES = 32


def _inversions(values: np.ndarray) -> int:
    """Pairs i < j with values[i] > values[j] (non-negative integers).

    With few distinct values (class labels, ratings): for each value v, a running count of the
    values above v, summed where v stands, O(n) per value. Otherwise O(n log² n) with a
    bottom-up merge sort on whole arrays: at width w every block of w values is sorted, and
    each value of a right half counts the values of its left half that are greater, with one
    ``searchsorted`` over all blocks at once (block number * (max + 1) + value as the key).
    """
    n = len(values)
    if n < 2:
        return 0
    span = int(values.max()) + 1
    if span <= _FEW_VALUES:
        return sum(int(np.cumsum(values > v)[values == v].sum()) for v in range(span - 1))
    current = values.astype(np.int64)
    positions = np.arange(n, dtype=np.int64)
    total = 0
    width = 1
    while width < n:
        block = positions // (2 * width)
        keys = block * span + current
        right = (positions // width) % 2 == 1
        left_keys = keys[~right]  # each left half is sorted, and blocks come in order
        right_keys, right_block = keys[right], block[right]
        greater_end = np.searchsorted(left_keys, (right_block + 1) * span, side="left")
        greater_start = np.searchsorted(left_keys, right_keys, side="right")
        total += int((greater_end - greater_start).sum())
        current = np.sort(keys) - block * span  # blocks of 2 * width, each sorted
        width *= 2
    return total


def _kendall_tau_b(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b (``scipy.stats.kendalltau``'s statistic): concordant minus discordant
    pairs over the geometric mean of the pairs not tied in x and not tied in y."""
    n = len(x)
    order, y_dense = _dense_ranks(y)
    x_order, x_dense = _dense_ranks(x)
    if y_dense[-1] > x_dense[-1]:  # tau is symmetric: count inversions in the one with fewer values
        x, y, order, y_dense = y, x, x_order, x_dense
    x = x[order]
    x_order, x_dense = _dense_ranks(x)  # stable: equal x keep y ascending
    y_dense = y_dense[x_order]
    discordant = _inversions(y_dense)
    joint = np.r_[True, (x_dense[1:] != x_dense[:-1]) | (y_dense[1:] != y_dense[:-1]), True]
    runs = np.diff(np.flatnonzero(joint)).astype(np.int64)
    both_tied = int((runs * (runs - 1) // 2).sum())
    x_tied, y_tied = _tied_pairs(x_dense), _tied_pairs(y_dense)
    total = n * (n - 1) // 2
    difference = total - x_tied - y_tied + both_tied - 2 * discordant
    tau = difference / math.sqrt(total - x_tied) / math.sqrt(total - y_tied)
    return min(1.0, max(-1.0, tau))


def correlations(score: np.ndarray, target: np.ndarray) -> dict[str, float | None]:
    """Pearson, Spearman (Pearson of average ranks) and Kendall (tau-b, which handles ties) of
    score against target, as ``scipy.stats.pearsonr / spearmanr / kendalltau``."""
    score = np.asarray(score, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if len(score) < 2 or np.ptp(score) == 0 or np.ptp(target) == 0:
        return {"pearson": None, "spearman": None, "kendall": None}
    return {
        "pearson": _num(_pearson(score, target)),
        "spearman": _num(_pearson(_average_ranks(score), _average_ranks(target))),
        "kendall": _num(_kendall_tau_b(score, target)),
    }


def error_metrics(prediction: np.ndarray, target: np.ndarray) -> dict[str, float | None]:
    """MSE, RMSE, MAE and R² of a prediction on the target's scale (scikit-learn's
    ``mean_squared_error``, ``mean_absolute_error``, ``r2_score``; R² None for a constant target)."""
    prediction = np.asarray(prediction, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if not len(target):
        return {"mse": None, "rmse": None, "mae": None, "r2": None}
    error = target - prediction
    mse = float(np.mean(error * error))
    spread = target - target.mean()
    total = float(np.dot(spread, spread))
    r2 = 1.0 - float(np.dot(error, error)) / total if np.ptp(target) > 0 and total > 0 else None
    return {
        "mse": _num(mse),
        "rmse": _num(math.sqrt(mse)),
        "mae": _num(np.mean(np.abs(error))),
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
    y_true = np.asarray(y_true, dtype=np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    k = len(labels)
    if proba.ndim != 2 or proba.shape != (len(y_true), k):
        raise ValueError(f"probabilities of shape {proba.shape} do not match {len(y_true)} rows x {k} labels")
    y_pred = proba.argmax(axis=1)
    # NumPy rather than scikit-learn here: the same numbers without a second of imports per eval
    confusion = _class_counts(y_true, y_pred, k)
    support = confusion.sum(axis=1)
    precision, recall, f1 = _precision_recall_f1(np.diag(confusion), confusion.sum(axis=0), support)
    per_class: dict[str, dict[str, Any]] = {}
    for i, label in enumerate(labels):
        auc, average_precision = ranking_metrics(y_true == i, proba[:, i])
        per_class[str(label)] = {
            "precision": _num(precision[i]),
            "recall": _num(recall[i]),
            "f1": _num(f1[i]),
            "support": int(support[i]),
            "roc_auc": auc,
            "average_precision": average_precision,
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
        "accuracy": _num(np.mean(y_true == y_pred)) if len(y_true) else None,
        "macro": averages["macro"],
        "weighted": averages["weighted"],
        "per_class": per_class,
        "confusion_matrix": confusion.tolist(),
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

    return {
        "mae": _num(np.mean(np.abs(truth - predicted))) if len(truth) else None,
        "mae_expected": _num(np.mean(np.abs(truth - expected))) if len(truth) else None,
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
    y_true = np.asarray(y_true, dtype=np.int64).astype(bool)
    proba = np.asarray(proba, dtype=np.float64)
    y_pred = proba >= threshold
    true_pos = (y_true & y_pred).sum(axis=0)
    predicted = y_pred.sum(axis=0)
    support = y_true.sum(axis=0)
    precision, recall, f1 = _precision_recall_f1(true_pos, predicted, support)
    per_class = {}
    for i, label in enumerate(labels):
        auc, average_precision = ranking_metrics(y_true[:, i], proba[:, i])
        per_class[str(label)] = {
            "precision": _num(precision[i]),
            "recall": _num(recall[i]),
            "f1": _num(f1[i]),
            "support": int(support[i]),
            "roc_auc": auc,
            "average_precision": average_precision,
        }
    weights = [float(s) for s in support]
    averages = {
        name: {
            metric: mean_defined([c[metric] for c in per_class.values()], w)
            for metric in ("precision", "recall", "f1", "roc_auc", "average_precision")
        }
        for name, w in (("macro", None), ("weighted", weights))
    }
    micro_p, micro_r, micro_f1 = (
        float(v[0]) for v in _precision_recall_f1(true_pos.sum(keepdims=True), predicted.sum(), support.sum())
    )
    wrong = y_true != y_pred
    return {
        "subset_accuracy": _num(1.0 - wrong.any(axis=1).mean()) if len(y_true) else None,
        "hamming_loss": _num(wrong.mean()) if wrong.size else None,
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
