"""The NumPy metrics against scikit-learn and SciPy, the oracles they replace at run time.

bonepick computes its evaluation metrics with NumPy so that an eval does not pay a second of
scikit-learn/SciPy imports (see the module docstring of ``bonepick.evaluate.metrics``); these
tests check every number against those libraries on random data, tie-heavy data and the
degenerate cases (one class present, a class never seen or never predicted, all scores tied).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from bonepick.evaluate import metrics as M


def approx(value: float) -> object:
    return pytest.approx(value, rel=1e-9, abs=1e-9)


def _scores(rng: np.random.Generator, n: int, trial: int) -> np.ndarray:
    """Continuous, tie-heavy (one decimal, float32 like model outputs) or all equal scores."""
    score = rng.random(n)
    if trial % 3 == 1:
        score = np.round(score, 1).astype(np.float32)
    elif trial % 3 == 2:
        score = np.round(score * 3).astype(np.float32)  # four distinct values
    return score


def test_auc_and_average_precision_match_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    checked = 0
    for trial in range(90):
        n = int(rng.integers(2, 400))
        positive = rng.random(n) < rng.uniform(0.02, 0.98)
        score = _scores(rng, n, trial)
        if positive.all() or not positive.any():
            assert M.binary_auc(positive, score) is None
            assert M.binary_average_precision(positive, score) is None
            continue
        assert M.binary_auc(positive, score) == approx(skm.roc_auc_score(positive, score))
        assert M.binary_average_precision(positive, score) == approx(
            skm.average_precision_score(positive, score)
        )
        checked += 1
    assert checked > 60
    # a large set with few distinct scores: the integer areas stay exact
    positive = rng.random(200_000) < 0.3
    score = np.round(rng.random(200_000) + 0.2 * positive, 2).astype(np.float32)
    assert M.binary_auc(positive, score) == approx(skm.roc_auc_score(positive, score))
    assert M.binary_average_precision(positive, score) == approx(skm.average_precision_score(positive, score))


def test_auc_and_average_precision_all_scores_tied() -> None:
    positive = np.array([True, False, False, True, False])
    score = np.full(5, 0.3, dtype=np.float32)
    assert M.binary_auc(positive, score) == approx(skm.roc_auc_score(positive, score)) == approx(0.5)
    assert M.binary_average_precision(positive, score) == approx(skm.average_precision_score(positive, score))
    # one side only: undefined for both libraries' purposes, None here
    assert M.binary_auc(np.ones(4, bool), np.arange(4.0)) is None
    assert M.binary_average_precision(np.zeros(4, bool), np.arange(4.0)) is None


def _check_classification(y: np.ndarray, proba: np.ndarray, k: int) -> None:
    labels = [f"c{i}" for i in range(k)]
    m = M.classification_metrics(y, proba, labels)
    pred = proba.argmax(axis=1)
    every = list(range(k))
    assert m["accuracy"] == approx(skm.accuracy_score(y, pred))
    assert m["confusion_matrix"] == skm.confusion_matrix(y, pred, labels=every).tolist()
    p, r, f, s = skm.precision_recall_fscore_support(y, pred, labels=every, zero_division=0)
    for i in every:
        c = m["per_class"][f"c{i}"]
        assert (c["precision"], c["recall"], c["f1"], c["support"]) == (
            approx(p[i]),
            approx(r[i]),
            approx(f[i]),
            s[i],
        )
        positive = y == i
        if positive.any() and not positive.all():
            assert c["roc_auc"] == approx(skm.roc_auc_score(positive, proba[:, i]))
            assert c["average_precision"] == approx(skm.average_precision_score(positive, proba[:, i]))
        else:
            assert c["roc_auc"] is None and c["average_precision"] is None
    for average in ("macro", "weighted"):
        kwargs = dict(labels=every, average=average, zero_division=0)
        assert m[average]["precision"] == approx(skm.precision_score(y, pred, **kwargs))
        assert m[average]["recall"] == approx(skm.recall_score(y, pred, **kwargs))
        assert m[average]["f1"] == approx(skm.f1_score(y, pred, **kwargs))


def test_classification_matches_scikit_learn_random_and_ties() -> None:
    rng = np.random.default_rng(1)
    for k, trial in itertools.product((2, 3, 6), range(6)):
        n = int(rng.integers(5, 600))
        y = rng.integers(0, k, n)
        proba = rng.dirichlet(np.ones(k), n)
        if trial % 2:
            proba = np.round(proba, 1)  # many tied probabilities (argmax takes the first)
        _check_classification(y, proba.astype(np.float32), k)


def test_classification_degenerate_cases_match_scikit_learn() -> None:
    rng = np.random.default_rng(2)
    k, n = 4, 300
    # the last class never occurs (its recall is undefined: 0), class 0 is rarely predicted
    y = rng.integers(0, k - 1, n)
    proba = rng.dirichlet(np.ones(k), n)
    proba[:, 0] *= 0.05
    _check_classification(y, proba, k)
    # one class present: every AUC undefined
    _check_classification(np.full(50, 2), rng.dirichlet(np.ones(3), 50), 3)
    # all probabilities tied: everything predicted as the first class
    _check_classification(rng.integers(0, 3, 80), np.full((80, 3), 1 / 3), 3)
    # a class never predicted and never present
    y = rng.integers(0, 2, 120)
    proba = np.c_[rng.dirichlet(np.ones(2), 120), np.zeros(120)]
    _check_classification(y, proba, 3)
    # a single row
    _check_classification(np.array([1]), np.array([[0.2, 0.8]]), 2)


def test_correlations_match_scipy() -> None:
    rng = np.random.default_rng(3)
    for trial in range(45):
        n = int(rng.integers(2, 500)) if trial < 40 else 5000
        target = rng.integers(0, 6, n).astype(np.float64) if trial % 2 else rng.normal(size=n)
        score = _scores(rng, n, trial) + 0.3 * target
        if np.ptp(score) == 0 or np.ptp(target) == 0:
            assert M.correlations(score, target) == {"pearson": None, "spearman": None, "kendall": None}
            continue
        got = M.correlations(score, target)
        assert got["pearson"] == approx(stats.pearsonr(score, target)[0])
        assert got["spearman"] == approx(stats.spearmanr(score, target)[0])
        assert got["kendall"] == approx(stats.kendalltau(score, target)[0])


def test_correlations_with_ties_in_both_and_perfect_order() -> None:
    x = np.array([1, 1, 2, 2, 3, 3, 3, 0], dtype=np.float64)
    y = np.array([5, 5, 5, 1, 1, 1, 0, 9], dtype=np.float64)
    got = M.correlations(x, y)
    assert got["kendall"] == approx(stats.kendalltau(x, y)[0])
    assert got["spearman"] == approx(stats.spearmanr(x, y)[0])
    same = np.array([0.1, 0.5, 0.5, 0.9])
    assert M.correlations(same, same * 2) == {
        "pearson": approx(1.0),
        "spearman": approx(1.0),
        "kendall": approx(1.0),
    }
    assert M.correlations(same, -same)["kendall"] == approx(-1.0)


def test_inversions_against_brute_force() -> None:
    rng = np.random.default_rng(4)
    for n, span in itertools.product((0, 1, 2, 3, 7, 64, 65, 129), (5, 1000)):  # both counting methods
        values = rng.integers(0, span, n)
        brute = sum(1 for i in range(n) for j in range(i + 1, n) if values[i] > values[j])
        assert M._inversions(values) == brute


def test_error_metrics_match_scikit_learn() -> None:
    rng = np.random.default_rng(5)
    for n in (1, 2, 10, 300):
        target = rng.integers(0, 4, n).astype(np.float64)
        prediction = target + rng.normal(scale=0.7, size=n)
        m = M.error_metrics(prediction, target)
        assert m["mse"] == approx(skm.mean_squared_error(target, prediction))
        assert m["mae"] == approx(skm.mean_absolute_error(target, prediction))
        if np.ptp(target) > 0:
            assert m["r2"] == approx(skm.r2_score(target, prediction))
        else:
            assert m["r2"] is None
    assert M.error_metrics(np.array([1.0, 2.0]), np.array([3.0, 3.0]))["r2"] is None  # constant target


def test_ordinal_metrics_match_scikit_learn_and_scipy() -> None:
    rng = np.random.default_rng(6)
    values = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    n = 700
    y = rng.integers(0, 6, n)
    proba = rng.dirichlet(np.ones(6), n)
    proba[np.arange(n), y] += 0.5
    proba /= proba.sum(axis=1, keepdims=True)
    o = M.classification_metrics(y, proba, [str(int(v)) for v in values])["ordinal"]
    truth = np.asarray(values)[y]
    expected = proba @ np.asarray(values)
    assert o["mae"] == approx(skm.mean_absolute_error(truth, np.asarray(values)[proba.argmax(axis=1)]))
    assert o["mae_expected"] == approx(skm.mean_absolute_error(truth, expected))
    assert o["spearman"] == approx(stats.spearmanr(expected, truth)[0])
    assert o["kendall"] == approx(stats.kendalltau(expected, truth)[0])
    for t in range(1, 6):
        assert o["auc_at_least"][str(t)] == approx(skm.roc_auc_score(truth >= t, proba[:, t:].sum(axis=1)))


def test_multilabel_matches_scikit_learn() -> None:
    rng = np.random.default_rng(7)
    n, k = 400, 4
    y = (rng.random((n, k)) < [0.5, 0.2, 0.0, 0.9]).astype(np.int64)  # label 2 never present
    proba = np.clip(y * 0.4 + rng.random((n, k)) * 0.6, 0, 1)
    proba[:, 3] = 0.1  # label 3 never predicted
    m = M.multilabel_metrics(y, proba, ["a", "b", "c", "d"])
    pred = (proba >= 0.5).astype(np.int64)
    p, r, f, s = skm.precision_recall_fscore_support(y, pred, zero_division=0)
    for i, name in enumerate("abcd"):
        c = m["per_class"][name]
        assert (c["precision"], c["recall"], c["f1"], c["support"]) == (
            approx(p[i]),
            approx(r[i]),
            approx(f[i]),
            s[i],
        )
    mp, mr, mf, _ = skm.precision_recall_fscore_support(y, pred, average="micro", zero_division=0)
    assert m["micro"] == {"precision": approx(mp), "recall": approx(mr), "f1": approx(mf)}
    assert m["subset_accuracy"] == approx(skm.accuracy_score(y, pred))
    assert m["hamming_loss"] == approx(skm.hamming_loss(y, pred))
    assert m["per_class"]["a"]["roc_auc"] == approx(skm.roc_auc_score(y[:, 0], proba[:, 0]))
    assert m["per_class"]["c"]["roc_auc"] is None
