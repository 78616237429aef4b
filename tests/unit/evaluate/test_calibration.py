"""Calibration: ranking and calibration metrics by hand, fits that recover known mappings, and the
printed jq expression computing exactly what the fit computes."""

from __future__ import annotations

from pathlib import Path

import jq
import numpy as np
import pytest

from bonepick.errors import DataError, UsageError
from bonepick.evaluate.calibration import calibration_metrics, fit_calibration, read_scored_rows
from bonepick.io import write_rows


def approx(value: float) -> object:
    return pytest.approx(value, abs=1e-9)


def test_calibration_metrics_by_hand() -> None:
    score = np.array([0.1, 0.4, 0.05, 0.9])
    labels = np.array([0.0, 1.0, 1.0, 2.0])
    m = calibration_metrics(score, labels, n_bins=2)
    assert m["scale"] == "unit"  # scores in [0, 1], labels up to 2: labels mapped to 0, .5, .5, 1
    # label >= 1: positives {.4, .05, .9} vs .1 -> 2 of 3; label >= 2: .9 beats all -> 1
    assert m["auc"]["at_least"] == {"1": approx(2 / 3), "2": approx(1.0)}
    assert m["auc"]["macro"] == approx(5 / 6)
    assert m["auc"]["weighted"] == approx((3 * 2 / 3 + 1 * 1.0) / 4)
    # adjacent: 0 vs 1 -> {.4, .05} vs .1 = 1/2; 1 vs 2 -> .9 vs {.4, .05} = 1
    assert m["auc"]["ordinal"] == approx(0.75)
    assert m["error"]["mse"] == approx((0.01 + 0.01 + 0.45**2 + 0.01) / 4)
    # bins [0,.5): .1->0 .4->.5 .05->.5 ; [.5,1]: .9->1
    assert m["calibration"]["ece"] == approx((3 * abs(0.55 / 3 - 1 / 3) + 1 * 0.1) / 4)
    assert m["per_label"]["1"]["count"] == 2
    assert m["per_label"]["1"]["mean"] == approx(0.225)
    on_label_scale = calibration_metrics(score, labels, scale="label")
    assert on_label_scale["error"]["mae"] == approx((0.1 + 0.6 + 0.95 + 1.1) / 4)


def _write(folder: Path, rows: list[dict]) -> Path:
    write_rows(folder / "test" / "part_00.jsonl", rows[: len(rows) // 2])
    write_rows(folder / "test" / "part_01.jsonl.zst", rows[len(rows) // 2 :])
    return folder


def _jq_scores(expression: str, rows: list[dict]) -> np.ndarray:
    program = jq.compile(expression)
    return np.array([program.input_value(row).first() for row in rows])


def test_linear_fit_recovers_known_mapping_and_jq_matches(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    rows = []
    for _ in range(200):
        hi, lo = rng.uniform(0, 1, 2)
        rows.append({"proba": {"hi": hi, "lo": lo}, "rating": 1.0 + 2.0 * hi - 3.0 * lo})
    data = read_scored_rows([_write(tmp_path / "d", rows)], [".proba"], ".rating")
    assert data.feature_names == ["hi", "lo"] and data.rows == 200
    fit = fit_calibration(data, "linear")
    assert fit.weights == {"hi": approx(2.0), "lo": approx(-3.0)}
    assert fit.bias == approx(1.0)
    assert fit.quality["fitted"]["r2"] == approx(1.0)
    expected = np.array([r["rating"] for r in rows])
    np.testing.assert_allclose(_jq_scores(fit.jq(), rows), expected, atol=1e-6)


def test_log_linear_fit_and_clipping(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    rows = [{"p": [float(p)], "y": 0.5 + 1.5 * float(np.log(p))} for p in rng.uniform(0.01, 1, 150)]
    data = read_scored_rows([_write(tmp_path / "d", rows)], [".p"], ".y")
    fit = fit_calibration(data, "log-linear")
    assert fit.weights == {"[0]": approx(1.5)}
    assert fit.bias == approx(0.5)
    np.testing.assert_allclose(_jq_scores(fit.jq(), rows), fit.transform(data.features), atol=1e-6)
    # outputs beyond the fitted range are clipped to the label range, in numpy and in jq alike
    far = [{"p": [1e-9], "y": 0}, {"p": [50.0], "y": 0}]
    clipped = _jq_scores(fit.jq(), far)
    assert clipped.tolist() == pytest.approx([fit.low, fit.high], abs=1e-6)


def test_several_prediction_expressions(tmp_path: Path) -> None:
    rows = [{"a": i / 10, "b": {"c": (i % 3) / 3}, "y": 2 * (i / 10) + (i % 3) / 3} for i in range(30)]
    data = read_scored_rows([_write(tmp_path / "d", rows)], [".a", ".b.c"], ".y")
    fit = fit_calibration(data)
    assert list(fit.weights) == [".a", ".b.c"]
    np.testing.assert_allclose(_jq_scores(fit.jq(), rows), [r["y"] for r in rows], atol=1e-6)


def test_bad_rows_name_file_and_line(tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    write_rows(folder / "part.jsonl", [{"s": 0.1, "y": 1}, {"s": "high", "y": 2}])
    with pytest.raises(DataError, match=r"part\.jsonl:2: .*expected a number"):
        read_scored_rows([folder], [".s"], ".y")
    write_rows(folder / "part.jsonl", [{"s": {"a": 1}, "y": 1}, {"s": {"b": 1}, "y": 2}])
    with pytest.raises(DataError, match=r"part\.jsonl:2: .*keys a"):
        read_scored_rows([folder], [".s"], ".y")
    with pytest.raises(UsageError, match="unknown calibration method"):
        write_rows(folder / "part.jsonl", [{"s": 1, "y": 1}, {"s": 2, "y": 2}, {"s": 3, "y": 2}])
        fit_calibration(read_scored_rows([folder], [".s"], ".y"), "cubic")
