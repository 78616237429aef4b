"""The text preparation shared by training, conversion, evaluation and inference, so a model
always sees text prepared the way it was trained on: normalize, then keep ``max_length`` chars."""

from __future__ import annotations

from collections.abc import Sequence


class TextPreparer:
    def __init__(self, normalizer: str | None = None, max_length: int | None = None) -> None:
        from bonepick.data.normalizers import get_normalizer

        self.normalizer_name = normalizer
        self.normalizer = get_normalizer(normalizer) if normalizer else None
        self.max_length = max_length

    def batch(self, texts: Sequence[str]) -> list[str]:
        """Normalize and cut a batch: one call into the normalizer, which fuses both steps where
        it can (no Python call per text)."""
        if self.normalizer:
            return self.normalizer.prepare_batch(
                texts if isinstance(texts, list) else list(texts), self.max_length
            )
        if self.max_length:
            return [t[: self.max_length] for t in texts]
        return list(texts)

    def __call__(self, text: str) -> str:
        return self.batch([text])[0]
