"""train-fasttext through the CLI, and the classifier eval and infer load from its folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bonepick.io import read_rows
from bonepick.models import ModelCard, load_model
from tests.conftest import SPAM


def _spam_test() -> tuple[list[str], list[str]]:
    rows = list(read_rows(SPAM / "test" / "part_00.jsonl.zst"))
    return [r["text"] for r in rows], [r["label"] for r in rows]


def test_session_model_beats_majority_baseline(fasttext_model_dir: Path) -> None:
    card = ModelCard.load(fasttext_model_dir)
    assert card.kind == "fasttext"
    assert card.labels == ["ham", "spam"]
    assert card.normalizer == "whitespace"
    assert card.data["train"]["documents"] == 600
    texts, gold = _spam_test()
    model = load_model(fasttext_model_dir)
    probs = model.predict(texts)
    assert probs.shape == (len(texts), 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    accuracy = float((np.array(model.labels)[probs.argmax(axis=1)] == np.array(gold)).mean())
    majority = max(gold.count(label) for label in set(gold)) / len(gold)
    assert accuracy >= majority + 0.15, (accuracy, majority)
