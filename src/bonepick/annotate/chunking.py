"""Fitting long documents into a request: cut at a boundary and say so, keep head and tail, or rate
several evenly spaced chunks.

Cuts land on the last paragraph break, line break, sentence end or space inside the final fifth of
the allowed length (a hard cut only when there is none), and the text the model sees says that it
was cut, so a rubric can tell an excerpt from a short document.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from bonepick.errors import UsageError

CHUNKING_MODES = ("none", "head", "head-tail", "chunks")
DEFAULT_MAX_TEXT_LENGTH = 100_000
_SENTENCE_END = re.compile(r"[.!?。！？][\"')\]]?\s")


@dataclass(frozen=True)
class Piece:
    """The text of one request and whether (and where) it was cut from a longer one."""

    text: str
    truncated: bool = False
    index: int = 0
    count: int = 1


def _boundary_before(text: str, limit: int) -> int:
    """A cut position ``<= limit`` at the best boundary in the last fifth of the window."""
    if limit >= len(text):
        return len(text)
    floor = max(1, limit - max(1, limit // 5))
    window = text[floor:limit]
    for separator in ("\n\n", "\n"):
        at = window.rfind(separator)
        if at >= 0:
            return floor + at
    ends = list(_SENTENCE_END.finditer(window))
    if ends:
        return floor + ends[-1].end()
    at = max(window.rfind(" "), window.rfind("\t"))
    return floor + at if at >= 0 else limit


def _boundary_after(text: str, start: int) -> int:
    """A start position ``>= start`` at the best boundary in the next fifth of the remaining text."""
    if start <= 0:
        return 0
    ceiling = min(len(text), start + max(1, (len(text) - start) // 5))
    window = text[start:ceiling]
    for separator in ("\n\n", "\n"):
        at = window.find(separator)
        if at >= 0:
            return start + at + len(separator)
    end = _SENTENCE_END.search(window)
    if end:
        return start + end.end()
    at = window.find(" ")
    return start + at + 1 if at >= 0 else start


def head(text: str, limit: int) -> Piece:
    """The start of ``text`` up to ``limit`` characters, with a note when anything was cut."""
    if len(text) <= limit:
        return Piece(text)
    cut = _boundary_before(text, limit)
    shown = text[:cut].rstrip()
    note = f"\n\n[... document truncated: the first {len(shown):,} of {len(text):,} characters are shown]"
    return Piece(shown + note, truncated=True)


def head_tail(text: str, limit: int) -> Piece:
    """The first and last halves of the allowed length, with the size of the gap between them."""
    if len(text) <= limit:
        return Piece(text)
    first = text[: _boundary_before(text, limit // 2)].rstrip()
    last = text[_boundary_after(text, len(text) - (limit - limit // 2)) :].lstrip()
    omitted = len(text) - len(first) - len(last)
    return Piece(f"{first}\n\n[... {omitted:,} characters omitted ...]\n\n{last}", truncated=True)


def chunks(text: str, limit: int, count: int) -> list[Piece]:
    """Up to ``count`` chunks of at most ``limit`` characters, evenly spaced over the document.

    A document that fits is one piece; a document shorter than ``count`` chunks gets fewer, so the
    chunks never overlap more than boundaries require.
    """
    if count < 1:
        raise UsageError(f"--num-chunks must be at least 1, got {count}")
    if len(text) <= limit:
        return [Piece(text)]
    n = max(1, min(count, math.ceil(len(text) / limit)))
    if n == 1:
        return [head(text, limit)]
    pieces = []
    for i in range(n):
        start = round(i * (len(text) - limit) / (n - 1))
        start = _boundary_after(text, start) if start > 0 else 0
        end = start + _boundary_before(text[start:], limit)
        body = text[start:end].strip()
        note = f"[excerpt {i + 1} of {n} from a document of {len(text):,} characters]\n\n"
        pieces.append(Piece(note + body, truncated=True, index=i, count=n))
    return pieces


def fit(text: str, mode: str, limit: int | None, count: int = 1) -> list[Piece]:
    """The piece(s) to send for one text under a chunking mode."""
    if mode == "none" or limit is None:
        return [Piece(text)]
    if limit < 1:
        raise UsageError(f"--max-text-length must be at least 1, got {limit}")
    if mode == "head":
        return [head(text, limit)]
    if mode == "head-tail":
        return [head_tail(text, limit)]
    if mode == "chunks":
        return chunks(text, limit, count)
    raise UsageError(f"unknown chunking '{mode}'", hint=f"use one of: {', '.join(CHUNKING_MODES)}")
