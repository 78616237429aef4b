"""train-calibration and eval-calibration on real model outputs: a small fastText model's
probabilities on real mail, against an ordinal "how legitimate" rating (spam 0, hard ham 1,
easy ham 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from matplotlib import image as mpimg

from bonepick.io import read_rows, write_rows
from bonepick.models import load_model
from tests.conftest import SPAM

RATING = {"spam": 0, "hard": 1, "easy": 2}


@pytest.fixture(scope="module")
def scored(fasttext_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Rows carrying the model's probabilities and a 0-2 rating, as `infer --output inline` gives."""
    rows = list(read_rows(SPAM / "test" / "part_00.jsonl.zst"))
    model = load_model(fasttext_model_dir)
    proba = model.predict([r["text"] for r in rows])
    scored_rows = [
        {
            "id": r["id"],
            "proba": {label: float(p) for label, p in zip(model.labels, probs, strict=True)},
            "rating": RATING[r["subset"].split("-")[0]],
        }
        for r, probs in zip(rows, proba, strict=True)
    ]
    folder = tmp_path_factory.mktemp("scored") / "scored"
    write_rows(folder / "part_00.jsonl.zst", scored_rows[:120])
    write_rows(folder / "part_01.jsonl.zst", scored_rows[120:])
    return folder


def test_train_then_eval_calibration(cli, scored: Path, tmp_path: Path) -> None:
    result = cli(
        "train-calibration", "-d", scored, "-p", ".proba", "-l", ".rating", "-o", tmp_path / "fit.yaml"
    )
    fit = yaml.safe_load((tmp_path / "fit.yaml").read_text())
    assert fit["method"] == "linear" and set(fit["weights"]) == {"ham", "spam"}
    assert fit["clip"] == [0, 2]
    assert fit["jq"] in result.output  # printed whole, ready to paste
    assert "(bias)" in result.output and "Spearman with label" in result.output
    assert fit["quality"]["fitted"]["spearman"] > 0.5

    result = cli(
        "eval-calibration",
        "-d",
        scored,
        "-p",
        fit["jq"],
        "-l",
        ".rating",
        "-o",
        tmp_path / "eval.yaml",
        "--plot-dir",
        tmp_path / "plots",
    )
    record = yaml.safe_load((tmp_path / "eval.yaml").read_text())
    assert record["scale"] == "label" and record["rows"] == 200
    assert record["label_values"] == [0, 1, 2]
    assert record["correlation"]["spearman"] == pytest.approx(fit["quality"]["fitted"]["spearman"], abs=1e-6)
    assert record["auc"]["at_least"]["1"] > 0.8  # spam vs the rest, from a spam filter
    assert sum(b["count"] for b in record["calibration"]["bins"]) == 200
    for text in (
        "macro AUC",
        "ordinal AUC",
        "Kendall",
        "R²",
        "expected calibration error",
        "Score per label",
    ):
        assert text in result.output
    for name in ("calibration.png", "histogram.png"):
        assert mpimg.imread(tmp_path / "plots" / name).shape[0] > 100


def test_eval_calibration_on_a_probability_uses_unit_scale(cli, scored: Path, tmp_path: Path) -> None:
    cli("eval-calibration", "-d", scored, "-p", ".proba.ham", "-l", ".rating", "-o", tmp_path / "e.yaml")
    record = yaml.safe_load((tmp_path / "e.yaml").read_text())
    assert record["scale"] == "unit"  # probabilities against 0..2 labels mapped to 0..1
    assert record["auc"]["macro"] > 0.7


def test_log_linear_and_several_outputs(cli, scored: Path) -> None:
    result = cli(
        "train-calibration",
        "-d",
        scored,
        "-p",
        ".proba.ham",
        "-p",
        ".proba.spam",
        "-l",
        ".rating",
        "-m",
        "log-linear",
    )
    assert "log-linear fit, 200 rows" in result.output
    assert "| log)" in result.output and "[(.proba.ham), (.proba.spam)]" in result.output


def test_calibration_errors(cli, scored: Path, tmp_path: Path) -> None:
    result = cli("eval-calibration", "-d", scored, "-p", ".proba", "-l", ".rating", expect=1)
    assert "gives 2 numbers per row" in result.output
    result = cli("train-calibration", "-d", scored, "-p", ".proba", "-l", ".rating", "-m", "cubic", expect=1)
    assert "unknown calibration method 'cubic'" in result.output
    result = cli("eval-calibration", "-d", scored, "-p", ".id", "-l", ".rating", expect=1)
    assert "part_00.jsonl.zst:1:" in result.output and "expected a number" in result.output
    assert "Traceback" not in result.output
