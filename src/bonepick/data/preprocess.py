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
        out = self.normalizer.normalize_batch(list(texts)) if self.normalizer else list(texts)
        if self.max_length:
            out = [t[: self.max_length] for t in out]
        return out

    def __call__(self, text: str) -> str:
        return self.batch([text])[0]
