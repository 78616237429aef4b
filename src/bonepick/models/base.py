"""The classifier interface every model kind implements, and the loader that picks the kind from
the model card."""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bonepick.errors import ModelError
from bonepick.models.card import ModelCard

if TYPE_CHECKING:
    from bonepick.data.preprocess import TextPreparer

#: card kind -> "module:Class"; the module is imported only when a model of that kind is loaded
_KINDS: dict[str, str] = {
    "fasttext": "bonepick.models.fasttext:FastTextClassifier",
    "model2vec": "bonepick.models.model2vec:Model2VecClassifier",
    "encoder": "bonepick.models.encoder:EncoderClassifier",
}


def register_kind(kind: str, target: str) -> None:
    """Make ``load_model`` handle another kind (``target`` is ``"module:Class"``)."""
    _KINDS[kind] = target


class Classifier(ABC):
    """A loaded model that scores raw texts.

    :meth:`predict` applies the card's normalizer and max length, then returns class
    probabilities of shape ``(n, len(labels))`` (columns in ``card.labels`` order), or for
    regression and ranking models one score per text, shape ``(n,)``.
    """

    def __init__(self, model_dir: Path, card: ModelCard) -> None:
        self.model_dir = Path(model_dir)
        self.card = card
        self._prepare = None

    @property
    def labels(self) -> list[str]:
        return list(self.card.labels)

    def preprocess(self, texts: Sequence[str]) -> list[str]:
        if self._prepare is None:
            self._prepare = self.text_preparer(self.card.normalizer, self.card.max_length)
        return self._prepare.batch(texts)

    def text_preparer(self, normalizer: str | None, max_length: int | None) -> TextPreparer:
        """What turns raw texts into :meth:`predict_prepared`'s input for this normalizer and max
        length. A kind may leave out a step its own input handling makes redundant, as long as
        the scores stay the same (fastText tokenizes on whitespace itself)."""
        from bonepick.data.preprocess import TextPreparer

        return TextPreparer(normalizer, max_length)

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        return self.predict_prepared(self.preprocess(texts))

    @abstractmethod
    def predict_prepared(self, texts: Sequence[str]) -> np.ndarray:
        """Like :meth:`predict`, for texts already normalized and cut."""

    @classmethod
    @abstractmethod
    def load(cls, model_dir: Path, card: ModelCard) -> Classifier: ...


def load_model(model_dir: str | Path, card: ModelCard | None = None) -> Classifier:
    """Load any bonepick model folder; the card says which kind it is.

    A folder without a card can still be loaded when the caller builds a card for it (for
    example a fastText ``.bin`` trained elsewhere, see ``bonepick.models.fasttext``).
    """
    model_dir = Path(model_dir)
    if not model_dir.exists():
        raise ModelError(f"no such model folder: {model_dir}")
    card = card or ModelCard.load(model_dir)
    target = _KINDS.get(card.kind)
    if target is None:
        raise ModelError(
            f"unknown model kind '{card.kind}'", hint=f"known kinds: {', '.join(sorted(_KINDS))}"
        )
    module_name, _, class_name = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, class_name).load(model_dir, card)
