"""Load and run a trained Model2Vec model folder.

The folder is a plain ``model2vec`` ``StaticModelPipeline`` (``config.json``, ``model.safetensors``,
``tokenizer.json``, ``head.safetensors``) plus the bonepick model card. Classification heads end in
softmax (one label) or sigmoid (several labels); regression and ranking heads end in the identity
and give one score per text. Inference needs numpy and model2vec only, never torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bonepick.errors import ModelError
from bonepick.models.base import Classifier
from bonepick.models.card import ModelCard

PIPELINE_FILES = ("config.json", "model.safetensors", "tokenizer.json", "head.safetensors")


class Model2VecClassifier(Classifier):
    def __init__(self, model_dir: Path, card: ModelCard, pipeline) -> None:
        super().__init__(model_dir, card)
        self.pipeline = pipeline
        self.batch_size = 1024
        self._columns: np.ndarray | None = None
        if not card.is_scalar:
            classes = [str(c) for c in (pipeline.classes_ if pipeline.classes_ is not None else [])]
            missing = [label for label in card.labels if label not in classes]
            if missing or not card.labels:
                raise ModelError(
                    f"{model_dir}: the card's labels {card.labels} do not match the head's classes {classes}",
                    hint="the folder was changed after training; retrain or restore the card",
                )
            self._columns = np.asarray([classes.index(label) for label in card.labels])

    @classmethod
    def load(cls, model_dir: Path, card: ModelCard) -> Model2VecClassifier:
        model_dir = Path(model_dir)
        missing = [name for name in PIPELINE_FILES if not (model_dir / name).is_file()]
        if missing:
            raise ModelError(
                f"{model_dir} is not a Model2Vec pipeline folder: {', '.join(missing)} missing",
                hint="pass a folder written by train-model2vec or train-contrastive",
            )
        from model2vec.inference import StaticModelPipeline

        try:
            pipeline = StaticModelPipeline.from_pretrained(model_dir)
        except (OSError, ValueError, KeyError) as error:
            raise ModelError(f"cannot load the Model2Vec pipeline in {model_dir}: {error}") from None
        return cls(model_dir, card, pipeline)

    def predict_prepared(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if self.card.is_scalar:
            if not texts:
                return np.zeros(0, dtype=np.float32)
            scores = self.pipeline.predict(texts, batch_size=self.batch_size, show_progress_bar=False)
            return np.asarray(scores, dtype=np.float32).reshape(len(texts), -1)[:, 0]
        assert self._columns is not None
        if not texts:
            return np.zeros((0, len(self._columns)), dtype=np.float32)
        proba = self.pipeline.predict_proba(texts, batch_size=self.batch_size, show_progress_bar=False)
        return np.asarray(proba, dtype=np.float32)[:, self._columns]
