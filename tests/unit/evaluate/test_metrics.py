"""Metrics against values computed by hand on tiny cases (the arithmetic is in the comments)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bonepick.evaluate import metrics as M


def approx(value: float) -> object:
    return pytest.approx(value, abs=1e-9)


def test_binary_classification_by_hand() -> None:
    y = np.array([0, 0, 1, 1, 1])
    p_pos = np.array([0.1, 0.6, 0.35, 0.8, 0.9])
    proba = np.stack([1 - p_pos, p_pos], axis=1)
    m = M.classification_metrics(y, proba, ["neg", "pos"], n_bins=2)
    # predicted [0, 1, 0, 1, 1]: 3 of 5 right
    assert m["accuracy"] == approx(0.6)
    assert m["confusion_matrix"] == [[1, 1], [1, 2]]
    pos, neg = m["per_class"]["pos"], m["per_class"]["neg"]
    assert (pos["precision"], pos["recall"], pos["f1"], pos["support"]) == (approx(2 / 3),) * 3 + (3,)
    assert (neg["precision"], neg["recall"], neg["f1"], neg["support"]) == (approx(0.5),) * 3 + (2,)
    # positives {.35, .8, .9} beat negatives {.1, .6} in 5 of 6 pairs
    assert pos["roc_auc"] == approx(5 / 6)
    assert neg["roc_auc"] == approx(5 / 6)
    # ranked .9P .8P .6N .35P: AP = 1/3*1 + 1/3*1 + 1/3*3/4
    assert pos["average_precision"] == approx(11 / 12)
    assert m["macro"]["f1"] == approx((0.5 + 2 / 3) / 2)
    assert m["weighted"]["f1"] == approx((2 * 0.5 + 3 * 2 / 3) / 5)
    # bins [0,.5): {.1 -> 0, .35 -> 1}; [.5,1]: {.6 -> 0, .8 -> 1, .9 -> 1}
    calibration = m["calibration"]
    assert [b["count"] for b in calibration["bins"]] == [2, 3]
    assert calibration["bins"][0]["mean_predicted"] == approx(0.225)
    assert calibration["bins"][1]["mean_observed"] == approx(2 / 3)
    assert calibration["ece"] == approx((2 * 0.275 + 3 * 0.1) / 5)
    assert "ordinal" not in m


def test_ordinal_classification_by_hand() -> None:
    y = np.array([0, 1, 2, 2])
    proba = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.3, 0.6], [0.5, 0.3, 0.2]])
    m = M.classification_metrics(y, proba, ["0", "1", "2"])
    assert m["confusion_matrix"] == [[1, 0, 0], [0, 1, 0], [1, 0, 1]]
    assert m["accuracy"] == approx(0.75)
    o = m["ordinal"]
    assert o["mae"] == approx(0.5)  # only the last row is off, by 2
    # expected values .4 1.1 1.5 .7 against 0 1 2 2
    assert o["mae_expected"] == approx((0.4 + 0.1 + 0.5 + 1.3) / 4)
    # ranks [1,3,4,2] vs [1,2,3.5,3.5]: 3 / sqrt(5 * 4.5)
    assert o["spearman"] == approx(3 / math.sqrt(22.5))
    # 4 concordant, 1 discordant, one pair tied in y: 3 / sqrt(6 * 5)
    assert o["kendall"] == approx(3 / math.sqrt(30))
    # P(label >= 1) = .3 .8 .9 .5: the negative is lowest; P(label >= 2) = .1 .3 .6 .2: 3 of 4 pairs
    assert o["auc_at_least"] == {"1": approx(1.0), "2": approx(0.75)}


def test_ordinal_uses_values_not_column_order() -> None:
    labels = ["2", "0", "1"]  # a card may list classes in any order
    y = np.array([1, 2, 0, 0])  # true values 0 1 2 2
    proba = np.array([[0.1, 0.7, 0.2], [0.3, 0.2, 0.5], [0.6, 0.1, 0.3], [0.2, 0.5, 0.3]])
    o = M.classification_metrics(y, proba, labels)["ordinal"]
    assert o["auc_at_least"] == {"1": approx(1.0), "2": approx(0.75)}
    assert o["mae"] == approx(0.5)


def test_regression_by_hand() -> None:
    scores = np.array([0.5, 1.5, 1.0, 3.0])
    target = np.array([0.0, 1.0, 2.0, 3.0])
    m = M.scalar_metrics(scores, target)
    assert m["mse"] == approx(0.375)
    assert m["rmse"] == approx(math.sqrt(0.375))
    assert m["mae"] == approx(0.5)
    assert m["r2"] == approx(1 - 1.5 / 5)
    assert m["spearman"] == approx(0.8)  # one swap of neighbours: 1 - 6*2/(4*15)
    assert m["kendall"] == approx(4 / 6)
    assert m["pearson"] == approx(3.5 / math.sqrt(3.5 * 5))
    assert m["auc_at_least"] == {"1": approx(1.0), "2": approx(0.75), "3": approx(1.0)}
    assert m["macro_auc"] == approx(2.75 / 3)


def test_multilabel_by_hand() -> None:
    y = np.array([[1, 0], [1, 1], [0, 1], [0, 0]])
    proba = np.array([[0.9, 0.2], [0.6, 0.4], [0.3, 0.7], [0.2, 0.6]])
    m = M.multilabel_metrics(y, proba, ["a", "b"])
    assert m["per_class"]["a"]["f1"] == approx(1.0)
    assert m["per_class"]["b"]["precision"] == approx(0.5)
    assert m["per_class"]["b"]["recall"] == approx(0.5)
    assert m["subset_accuracy"] == approx(0.5)
    assert m["hamming_loss"] == approx(0.25)
    assert m["micro"]["f1"] == approx(0.75)
    assert m["per_class"]["b"]["roc_auc"] == approx(0.75)


def test_undefined_metrics_are_none_not_nan() -> None:
    y = np.array([0, 0, 0])
    proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.4, 0.6]])
    m = M.classification_metrics(y, proba, ["a", "b"])
    assert m["per_class"]["b"]["roc_auc"] is None  # no positives of b
    assert m["per_class"]["b"]["support"] == 0
    assert m["macro"]["roc_auc"] is None
    corr = M.correlations(np.array([1.0, 1.0, 1.0]), np.array([0.0, 1.0, 2.0]))
    assert corr == {"pearson": None, "spearman": None, "kendall": None}


def test_thresholds_and_ordinal_detection() -> None:
    assert M.label_thresholds(np.array([3, 1, 2, 2, 1])) == [2.0, 3.0]
    continuous = np.linspace(0, 1, 1000)
    cuts = M.label_thresholds(continuous)
    assert len(cuts) == 9 and cuts == sorted(cuts)
    assert M.ordinal_values(["0", "1", "2"]) == [0.0, 1.0, 2.0]
    assert M.ordinal_values(["0", "1"]) is None  # binary: nothing ordinal to add
    assert M.ordinal_values(["low", "mid", "high"]) is None
    assert M.threshold_name(2.0) == "2" and M.threshold_name(0.25) == "0.25"
