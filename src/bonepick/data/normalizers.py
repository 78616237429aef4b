"""Text normalizers, by name. Each turns raw text into the form a model is trained on.

Registered names: see :data:`NORMALIZERS`. Underscore and hyphen spellings are the same name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from bonepick.errors import UsageError


class Normalizer:
    """Base class: implement :meth:`normalize`; override :meth:`normalize_batch` when batching
    is faster (tokenizer-based normalizers)."""

    name = "base"

    def normalize(self, text: str) -> str:
        raise NotImplementedError

    def normalize_batch(self, texts: Sequence[str]) -> list[str]:
        return [self.normalize(t) for t in texts]


_WHITESPACE = re.compile(r"\s+")


class WhitespaceNormalizer(Normalizer):
    """Collapse every run of whitespace to one space and strip the ends."""

    name = "whitespace"

    def normalize(self, text: str) -> str:
        return _WHITESPACE.sub(" ", text).strip()


NORMALIZERS: dict[str, Callable[[], Normalizer]] = {
    "whitespace": WhitespaceNormalizer,
}
ALIASES: dict[str, str] = {}

_cache: dict[str, Normalizer] = {}


def canonical_name(name: str) -> str:
    key = name.strip().lower().replace("_", "-")
    key = ALIASES.get(key, key)
    if key not in NORMALIZERS:
        raise UsageError(f"unknown normalizer '{name}'", hint=f"use one of: {', '.join(sorted(NORMALIZERS))}")
    return key


def get_normalizer(name: str) -> Normalizer:
    """The normalizer called ``name`` (built once per process)."""
    key = canonical_name(name)
    if key not in _cache:
        _cache[key] = NORMALIZERS[key]()
    return _cache[key]
