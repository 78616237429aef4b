"""quantize-fasttext, and fastText files trained elsewhere (no card) loaded for evaluation."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from bonepick.errors import ModelError
from bonepick.io import read_rows
from bonepick.models import ModelCard, load_model
from bonepick.models.fasttext import card_for_foreign_model
from tests.conftest import SPAM


def _texts() -> list[str]:
    return [r["text"] for r in read_rows(SPAM / "test" / "part_00.jsonl.zst")]


def test_quantize_in_place_shrinks_and_reports_metric_change(
    cli, tmp_path: Path, fasttext_model_dir: Path
) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(fasttext_model_dir, model_dir)
    result = cli("quantize-fasttext", "-m", model_dir, "--cutoff", "5000")
    ftz, binary = model_dir / "model.ftz", model_dir / "model.bin"
    assert ftz.stat().st_size * 10 < binary.stat().st_size
    assert "size (MB)" in result.output and "accuracy (test)" in result.output
    card = ModelCard.load(model_dir)
    record = card.extra["quantized"]
    assert record["file"] == "model.ftz" and record["metrics_split"] == "test"
    assert record["metrics_after"]["accuracy"] > 0.8
    assert card.extra["model_file"] == "model.bin"  # the folder still serves the full model
    assert (model_dir / "bonepick_quantize.yaml").is_file()
    assert yaml.safe_load((model_dir / "bonepick.yaml").read_text())["command"] == "train-fasttext"


def test_quantize_with_cutoff_and_retrain_into_own_folder(
    cli, tmp_path: Path, fasttext_model_dir: Path
) -> None:
    out = tmp_path / "small"
    cli("quantize-fasttext", "-m", fasttext_model_dir, "-o", out, "--cutoff", "5000", "--retrain", "--qnorm")
    assert not (fasttext_model_dir / "model.ftz").exists()
    card = ModelCard.load(out)
    assert card.extra["model_file"] == "model.ftz"
    assert card.extra["quantized"]["cutoff"] == 5000 and card.extra["quantized"]["retrain"] is True
    full, small = load_model(fasttext_model_dir), load_model(out)
    assert small.model.is_quantized()
    texts = _texts()
    agree = (full.predict(texts).argmax(axis=1) == small.predict(texts).argmax(axis=1)).mean()
    assert agree > 0.85
    result = cli("quantize-fasttext", "-m", out, expect=1)
    assert "already quantized" in result.output


def test_foreign_bin_without_card_loads_with_explicit_normalizer(
    tmp_path: Path, fasttext_model_dir: Path
) -> None:
    foreign = tmp_path / "published"
    foreign.mkdir()
    shutil.copy(fasttext_model_dir / "model.bin", foreign / "quality_classifier.bin")
    with pytest.raises(ModelError, match="no model card"):
        load_model(foreign)
    card = card_for_foreign_model(foreign, "whitespace")
    assert card.kind == "fasttext" and card.labels == ["ham", "spam"] and card.normalizer == "whitespace"
    assert card.extra["model_file"] == "quality_classifier.bin" and card.extra["foreign"] is True
    assert card.hyperparameters["dimension"] == 32
    texts = _texts()
    np.testing.assert_allclose(
        load_model(foreign, card).predict(texts), load_model(fasttext_model_dir).predict(texts), atol=1e-6
    )


def test_files_that_are_not_fasttext_models(cli, tmp_path: Path, fasttext_model_dir: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "model.bin").write_bytes(b"\x00\x01 certainly not a fastText model " * 50)
    with pytest.raises(ModelError, match="is not a fastText model"):
        card_for_foreign_model(bad, "whitespace")
    shutil.copy(fasttext_model_dir / "bonepick_model.yaml", bad / "bonepick_model.yaml")
    with pytest.raises(ModelError, match="is not a fastText model"):
        load_model(bad)
    result = cli("quantize-fasttext", "-m", bad, expect=1)
    assert "is not a fastText model" in result.output and "Traceback" not in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelError, match="no fastText model file"):
        card_for_foreign_model(empty, "whitespace")
