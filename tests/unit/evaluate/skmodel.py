"""A small real model kind for evaluation tests: TF-IDF features and a scikit-learn linear model,
trained in a second on the real text slices in tests/data. Registered as kind ``sklearn-test`` so
``load_model`` and every eval path treat it like any other model folder."""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bonepick.io import read_rows
from bonepick.models.base import Classifier, register_kind
from bonepick.models.card import ModelCard

KIND = "sklearn-test"
register_kind(KIND, "tests.unit.evaluate.skmodel:SkClassifier")


class SkClassifier(Classifier):
    def __init__(self, model_dir: Path, card: ModelCard, pipeline) -> None:
        super().__init__(model_dir, card)
        self.pipeline = pipeline
        self.calls: list[int] = []  # batch sizes seen, for tests

    @classmethod
    def load(cls, model_dir: Path, card: ModelCard) -> SkClassifier:
        with open(Path(model_dir) / "model.pkl", "rb") as handle:
            return cls(model_dir, card, pickle.load(handle))

    def predict_prepared(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(len(texts))
        if self.card.is_scalar:
            return self.pipeline.predict(list(texts))
        proba = self.pipeline.predict_proba(list(texts))
        classes = [str(c) for c in self.pipeline.classes_]
        return proba[:, [classes.index(label) for label in self.card.labels]]


def rows_of(folder: Path) -> list[dict]:
    return [row for path in sorted(folder.rglob("*.jsonl*")) for row in read_rows(path)]


def train(
    model_dir: Path,
    train_dir: Path,
    *,
    task: str = "classification",
    label_expression: str = ".label",
    labels: list[str] | None = None,
    normalizer: str | None = "whitespace",
    label_of=None,
) -> Path:
    """Train on ``train_dir``'s rows; ``label_of(row)`` gives the label (default: ``row["label"]``)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline

    rows = rows_of(train_dir)
    texts = [" ".join(r["text"].split()) for r in rows]
    targets = [label_of(r) if label_of else r["label"] for r in rows]
    if task in ("regression", "ranking"):
        pipeline = make_pipeline(TfidfVectorizer(max_features=5000), Ridge(alpha=1.0))
        pipeline.fit(texts, np.asarray(targets, dtype=float))
        labels = []
    else:
        targets = [str(t) for t in targets]
        pipeline = make_pipeline(TfidfVectorizer(max_features=5000), LogisticRegression(max_iter=500))
        pipeline.fit(texts, targets)
        labels = labels or sorted({str(c) for c in pipeline.classes_})
    model_dir.mkdir(parents=True, exist_ok=True)
    with open(model_dir / "model.pkl", "wb") as handle:
        pickle.dump(pipeline, handle)
    ModelCard(
        kind=KIND, task=task, labels=labels, normalizer=normalizer, label_expression=label_expression
    ).save(model_dir)
    return model_dir
