"""Text normalizers, by name. Each turns raw text into the form a model is trained on.

Registered names: see :data:`NORMALIZERS` (plus :data:`ALIASES`). Underscore and hyphen spellings
are the same name. Outputs match bonepick 0.5.0 except for the deliberate fixes listed in
``docs/guide/normalizers.md``: plsfix sees the whole text (so mojibake across word boundaries is
repaired), long texts are not truncated, and a plsfix error never drops text.

Speed matters here (this is the hot path of data preparation), so nothing loops over characters
in Python: whitespace runs via ``str.split``, diacritics via one regex over the NFKD form,
indentation via ``re.M`` patterns, and the tokenizer-based normalizers go through
:class:`TokenRenderer`, which caches the tokens of word-sized chunks.
"""

from __future__ import annotations

import math
import re
import threading
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain, compress
from operator import not_
from typing import TYPE_CHECKING

from bonepick.errors import UsageError

if TYPE_CHECKING:
    from tokenizers import Tokenizer


class Normalizer:
    """Base class: implement :meth:`normalize`; override :meth:`normalize_batch` when batching
    is faster (tokenizer-based normalizers)."""

    name = "base"

    def normalize(self, text: str) -> str:
        raise NotImplementedError

    def normalize_batch(self, texts: Sequence[str]) -> list[str]:
        return [self.normalize(t) for t in texts]

    def prepare_batch(self, texts: Sequence[str], max_length: int | None = None) -> list[str]:
        """:meth:`normalize_batch`, each result cut to ``max_length`` characters (all if None/0):
        what a model is trained and run on (see :class:`bonepick.data.preprocess.TextPreparer`)."""
        out = self.normalize_batch(texts)
        if max_length:
            out = [t[:max_length] for t in out]
        return out


class BatchNormalizer(Normalizer):
    """A normalizer whose natural unit is a batch (one tokenizer call for many texts)."""

    def normalize(self, text: str) -> str:
        return self.normalize_batch([text])[0]


# ---------------------------------------------------------------------------------------------
# building blocks

_EXTRA_NEWLINES = re.compile(r"\n{3,}")


def limit_newlines(text: str) -> str:
    """Three or more newlines in a row become two."""
    return _EXTRA_NEWLINES.sub("\n\n", text) if "\n\n\n" in text else text


# Text made only of these characters is never changed by plsfix (nothing to decode, no control
# characters, no line breaks other than \n), so it can skip the call entirely.
_NEEDS_FIX = re.compile(r"[^\t\n\x20-\x7e]")
_FIX_SAFE_BYTES = b"\t\n" + bytes(range(0x20, 0x7F))


def _fix_safe(text: str) -> bool:
    """``_NEEDS_FIX`` finds nothing in ``text``: ASCII, and nothing left once the safe bytes are
    deleted (two C-level sweeps, several times faster than the regex search)."""
    return text.isascii() and not text.encode("ascii").translate(None, _FIX_SAFE_BYTES)


def fix_text(text: str) -> str:
    """Repair text with plsfix (a Rust port of ftfy): mojibake, curly quotes, line breaks, control
    characters, NFC.

    Unlike bonepick 0.5.0, which fixed each word-boundary fragment on its own (so mojibake such as
    ``doesnâ€™t`` was never repaired), the text is fixed as a whole. It is only cut after each
    ``&``, which keeps HTML entities (``&amp;``) exactly as written, as the original did: they are
    meaningful in documentation and code.
    """
    if _fix_safe(text):
        return text
    if "&" not in text:
        return _fix_piece(text)
    pieces = text.split("&")
    last = pieces.pop()
    return "".join(_fix_piece(p + "&") for p in pieces) + _fix_piece(last)


def _fix_piece(text: str) -> str:
    if _fix_safe(text):
        return text
    from plsfix import fix_text as plsfix_text

    try:
        return plsfix_text(text)
    except Exception:  # plsfix rejects some malformed input; keep such text as it is
        return text


_marks_lock = threading.Lock()
_marks_re: tuple[re.Pattern[str], re.Pattern[str]] | None = None


def _marks_patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Regexes matching the nonspacing marks (category Mn) of this Python's Unicode tables: those
    of the Basic Multilingual Plane, and the others. One class holding both would be ~20x slower:
    re looks a class up in a table only when all of it lies in the BMP."""
    global _marks_re
    with _marks_lock:
        if _marks_re is None:
            ranges: list[list[int]] = []
            for code in range(0x110000):
                if unicodedata.category(chr(code)) == "Mn":
                    if ranges and ranges[-1][1] == code - 1 and code != 0x10000:
                        ranges[-1][1] = code
                    else:
                        ranges.append([code, code])

            def chars(rs: list[list[int]]) -> str:
                return "".join(
                    re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in rs
                )

            bmp = [r for r in ranges if r[1] < 0x10000]
            astral = [r for r in ranges if r[0] >= 0x10000]
            _marks_re = re.compile(f"[{chars(bmp)}]+"), re.compile(f"[{chars(astral)}]+")
        return _marks_re


def strip_diacritics(text: str) -> str:
    """NFKD, then drop every nonspacing mark (é -> e, ﬁ -> fi)."""
    if text.isascii():
        return text
    bmp, astral = _marks_patterns()
    text = bmp.sub("", unicodedata.normalize("NFKD", text))
    if text and max(text) > "\uffff":  # a character beyond the BMP (rare): its marks too
        text = astral.sub("", text)
    return text


def collapse_whitespace(text: str) -> str:
    """Every run of whitespace becomes one space; the ends are stripped. ``str.split()`` uses the
    same whitespace definition as ``re``'s ``\\s`` and is several times faster than ``re.sub``."""
    return " ".join(text.split())


_INDENTED_LINE = re.compile(r"^( +)[^ \t\n]", re.M)
_LEADING_SPACES = re.compile(r"^ +", re.M)


def spaces_to_tabs(text: str) -> str:
    """Re-indent space-indented text with tabs.

    The indent unit is the greatest common divisor of the leading-space counts of all lines that
    have content after their spaces (tab-indented lines do not count); every line's leading spaces
    then become ``n // unit`` tabs plus ``n % unit`` spaces. Text with no such line is unchanged.
    """
    widths = set(map(len, _INDENTED_LINE.findall(text)))
    if not widths:
        return text
    unit = math.gcd(*widths)
    cache: dict[int, str] = {}

    def indent(match: re.Match[str]) -> str:
        n = match.end() - match.start()
        if n not in cache:
            cache[n] = "\t" * (n // unit) + " " * (n % unit)
        return cache[n]

    return _LEADING_SPACES.sub(indent, text)


_SEPARATORS = re.compile(r"([\t\r\n]+)")


class _EscapedSeparators(dict):
    """``"\\n\\t"`` -> ``"\\ n \\ t"``: a separator's escaped form, one character per
    space-separated item; memoized (lookups of known separators stay C-level)."""

    def __missing__(self, separator: str) -> str:
        out = " ".join(separator.encode("unicode_escape").decode("ascii"))
        if len(self) < 4096:
            self[separator] = out
        return out


_escaped_separators = _EscapedSeparators()


# Chunked tokenization. The shipped tokenizers (dolma2, Ultra-FineWeb) are byte-level BPE with no
# normalizer and pre-tokenizers that never look behind a match, so a text can be cut, without
# changing its tokens, wherever every pre-token ends in both:
#   (b) before a space that follows a non-space and precedes printable ASCII other than a digit;
#   (c) after a newline that precedes a non-space.
# Cutting there gives word-sized chunks that repeat a lot (Zipf): each distinct chunk is tokenized
# once and its rendered tokens are cached. A new chunk of plain text is cut into its pre-tokens
# by a Python regex equal to the tokenizer's own pre-tokenizer there; any other is cut further at
# boundaries that hold for its tokenizer (see _PROFILES). Pieces that are a single pre-token go
# straight to the BPE model (or are one whole vocabulary entry), skipping the tokenizer's
# pre-tokenizer regex, which is what makes plain encoding slow; the rest is encoded in one batch.
# A whole plain text skips the chunks: it is cut straight into its pre-tokens by that regex,
# each cached on its own; any other text is cut into lines at (c) first, so its plain lines do too.
# tests/unit/data/test_normalizers.py checks the result against plain encoding.
_CHUNK = re.compile(r"[\s\S][^ \n]*+(?:(?:(?<=\s) | (?![!-/:-~])|\n(?=\s))[^ \n]*+)*+\n?")
# boundary (c) alone: a text's lines, each tokenized on its own as it is within the text
_LINE_CUT = re.compile(r"(?<=\n)(?=\S)")


@dataclass(frozen=True)
class _Profile:
    """Where a chunk may be cut further, and which parts are one pre-token (ASCII only, so their
    byte-level form is the part with " " written as "Ġ")."""

    parts: re.Pattern[str]
    single: re.Pattern[str]
    # the tokenizer's own pre-tokenizer, for plain text (printable ASCII, tabs, line breaks: there
    # its Unicode classes are these ASCII ones); None: cut chunks with ``parts`` instead
    pretokens: re.Pattern[str] | None = None


_PLAIN = re.compile(r"[\t\n\r -~]*")
_PLAIN_BYTES = b"\t\n\r" + bytes(range(0x20, 0x7F))


def _is_plain(text: str) -> bool:
    """``_PLAIN`` matches all of ``text`` (C-level sweeps, as in :func:`_fix_safe`)."""
    return text.isascii() and not text.encode("ascii").translate(None, _PLAIN_BYTES)


# the byte-level form of plain text (bytes that are not printable ASCII are shifted to U+0100+)
_BYTE_LEVEL = str.maketrans({" ": "\u0120", "\t": "\u0109", "\n": "\u010a", "\r": "\u010d"})

_PROFILES = {
    # cl100k-style regex: a letter run ends before any ASCII non-letter, a digit run before a
    # letter; one optional non-apostrophe punctuation mark or space may lead a letter run
    "dolma2": _Profile(
        parts=re.compile(r"(?<=[A-Za-z])(?=[\x00-\x40\x5b-\x60\x7b-\x7f])|(?<=[0-9])(?=[A-Za-z])"),
        single=re.compile(r"[ !-&(-/:-@\[-`{-~]?[A-Za-z]+|[0-9]{1,3}"),
        pretokens=re.compile(
            r"'(?:[sdmtSDMT]|[rR][eE]|[vV][eE]|[lL][lL])|[^\r\nA-Za-z0-9]?[A-Za-z]+|[0-9]{1,3}"
            r"| ?[^\t\n\r A-Za-z0-9]+[\r\n]*|[\t\n\r ]*[\r\n]+|[\t\n\r ]+(?![^\t\n\r ])|[\t\n\r ]+"
        ),
    ),
    # sequential splits: letter runs (with one optional leading whitespace), then punctuation
    # runs, then trailing whitespace, CJK runs, and single digits
    "ultra_fineweb": _Profile(
        parts=re.compile(r"(?<=[A-Za-z])(?=[\x00-\x40\x5b-\x60\x7b-\x7f])|(?<=[!-@\[-`{-~])(?=[A-Za-z])"),
        single=re.compile(r" ?[A-Za-z]+| ?[!-/:-@\[-`{-~]+|[0-9]"),
        # on plain text the splits come down to: each line break; a letter run, then a
        # punctuation run, each with one optional leading space/tab; each digit; the spaces left
        # over, but for the last one that leads a following letter or punctuation run
        pretokens=re.compile(
            r"[\r\n]|[\t ]?[A-Za-z]+|[\t ]?[!-/:-@\[-`{-~]+|[0-9]|[\t ]+(?=[\t ][!-/:-~])|[\t ]+"
        ),
    ),
}


class TokenRenderer:
    """Texts -> their tokens rendered through ``table`` (id -> string) and joined by spaces,
    exactly ``" ".join(table[i] for i in tokenizer.encode(text).ids)``.

    With the ``profile`` of a shipped tokenizer it tokenizes through the caches described above
    (several times faster on real text); without one, every text is encoded as a whole. A batch
    is handled in C-level sweeps: cut every text into pieces (a plain text into its pre-tokens,
    any other into lines and chunks), find the pieces not yet cached (a set difference), render
    those in bulk; then each text is one ``join`` of cached strings (see :meth:`_render_chunked`).
    Thread-safe: a lock guards the caches.
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        table: list[str],
        add_special_tokens: bool,
        profile: str | None = None,
        cache_size: int = 200_000,
    ) -> None:
        self.tokenizer = tokenizer
        self.table = table
        self.add_special_tokens = add_special_tokens
        self.model = tokenizer.model
        self.profile = _PROFILES[profile] if profile is not None else None
        self.cache_size = cache_size
        probe = "Hello world"
        # chunks are encoded without special tokens: only exact if the post-processor adds none
        self.chunked = self.profile is not None and (
            not add_special_tokens
            or tokenizer.encode(probe, add_special_tokens=True).ids
            == tokenizer.encode(probe, add_special_tokens=False).ids
        )
        specials = sorted({t.content for t in tokenizer.get_added_tokens_decoder().values()}, key=len)
        self._specials = re.compile("|".join(re.escape(s) for s in reversed(specials))) if specials else None
        # a cheap first check: the first two characters of each ("<|", "||": rare in real text)
        self._special_heads = sorted({s[:2] for s in specials if s})
        # A single pre-token that is a whole vocabulary entry is that one token: BPE merges every
        # such entry of the shipped tokenizers back into itself (checked over the whole vocabulary
        # by tests/unit/data/test_normalizers.py), so these skip the BPE model.
        self._whole: dict[str, str] = {}
        if self.profile is not None:
            vocab = tokenizer.get_vocab(with_added_tokens=False)
            added = {t.content for t in tokenizer.get_added_tokens_decoder().values()}
            self._whole = {token: table[index] for token, index in vocab.items() if token not in added}
        self._chunks: dict[str, str] = {}
        self._cold = [True, True]  # chunk cache, plain pre-token cache: see _render_cached
        self._parts: dict[str, str] = {}
        self._pretokens: dict[str, str] = {}
        self._lock = threading.Lock()

    def render(self, ids: list[int]) -> str:
        return " ".join(map(self.table.__getitem__, ids))

    def _has_special(self, text: str) -> bool:
        if self._specials is None or not any(head in text for head in self._special_heads):
            return False
        return self._specials.search(text) is not None

    def _split_singles(self, pieces: list[str]) -> tuple[list[str], list[str]]:
        """(the pieces that are a single pre-token, the others), without a Python loop."""
        assert self.profile is not None
        flags = list(map(self.profile.single.fullmatch, pieces))
        return list(compress(pieces, flags)), list(compress(pieces, map(not_, flags)))

    def _render_singles(self, pieces: list[str]) -> list[str]:
        """Single pre-tokens of plain text: a whole vocabulary entry, else straight to the BPE
        model (skipping the tokenizer's pre-tokenizer regex, which is what makes plain encoding
        slow)."""
        if not pieces:
            return []
        # byte-level forms, all at once (plain text holds no "\0")
        keys = "\0".join(pieces).translate(_BYTE_LEVEL).split("\0")
        out = list(map(self._whole.get, keys))
        tokenize = self.model.tokenize
        table = self.table
        for i in compress(range(len(out)), map(not_, out)):  # not in the vocabulary as a whole
            out[i] = " ".join([table[token.id] for token in tokenize(keys[i])])
        return out

    def _render_encoded(self, pieces: list[str]) -> list[str]:
        """Anything else: the whole tokenizer (pre-tokenizer included), one batch call."""
        encodings = self.tokenizer.encode_batch_fast(pieces, add_special_tokens=False)
        return [self.render(encoding.ids) for encoding in encodings]

    def _render_pieces(self, pieces: list[str]) -> list[str]:
        assert self.profile is not None
        singles, others = self._split_singles(pieces)
        rendered = dict(zip(singles, self._render_singles(singles), strict=True))
        if others:
            rendered.update(zip(others, self._render_encoded(others), strict=True))
        return [rendered[p] for p in pieces]

    def _fill_chunks(self, chunk_lists: list[list[str]]) -> int:
        """Render every chunk of ``chunk_lists`` that is not cached yet; the number rendered."""
        assert self.profile is not None
        cache = self._chunks
        wanted = set(chain.from_iterable(chunk_lists))
        missing = wanted.difference(cache)  # C-level: the hashes computed here are kept
        if not missing:
            return 0
        if len(cache) + len(missing) > self.cache_size:  # bounded memory: start afresh
            cache.clear()
            missing = wanted
        singles, others = self._split_singles(list(missing))  # most chunks are one word: " word"
        cache.update(zip(singles, self._render_singles(singles), strict=True))
        pretokens = self.profile.pretokens
        if others and pretokens is not None:  # plain text: cut into its pre-tokens right here
            flags = list(map(_PLAIN.fullmatch, others))
            plain = list(compress(others, flags))
            others = list(compress(others, map(not_, flags)))
            pieces = list(map(pretokens.findall, plain))
            self._join_parts(plain, pieces, self._pretokens, self._render_singles)
        if others:  # cut where this tokenizer always ends a pre-token; tokenize what is left
            pieces = list(map(self.profile.parts.split, others))
            self._join_parts(others, pieces, self._parts, self._render_pieces)
        return len(missing)

    def _join_parts(
        self,
        chunks: list[str],
        part_lists: list[list[str]],
        parts: dict[str, str],
        render: Callable[[list[str]], list[str]],
    ) -> None:
        """Cache each chunk as the rendered tokens of its parts, which ``render`` renders alone
        (cached in ``parts``)."""
        wanted = set(chain.from_iterable(part_lists))
        new = wanted.difference(parts)
        if len(parts) + len(new) > self.cache_size:
            parts.clear()
            new = wanted
        if new:
            new_parts = list(new)
            parts.update(zip(new_parts, render(new_parts), strict=True))
        lookup = parts.__getitem__
        self._chunks.update(zip(chunks, [" ".join(map(lookup, p)) for p in part_lists], strict=True))

    def _fill_pretokens(self, piece_lists: list[list[str]]) -> int:
        """Render every plain-text pre-token of ``piece_lists`` not cached yet; the number rendered."""
        cache = self._pretokens
        wanted = set(chain.from_iterable(piece_lists))
        missing = wanted.difference(cache)
        if not missing:
            return 0
        if len(cache) + len(missing) > self.cache_size:  # bounded memory: start afresh
            cache.clear()
            missing = wanted
        pieces = list(missing)
        cache.update(zip(pieces, self._render_singles(pieces), strict=True))
        return len(pieces)

    def _render_chunked(self, texts: list[str]) -> list[str]:
        """Each text rendered from the caches. A plain text (printable ASCII, tabs, line breaks:
        most real text) is cut straight into its pre-tokens by the profile's regex, each rendered
        once and cached; any other text is first cut into lines at boundary (c), so that its plain
        lines take the same way, and its other lines are cut into chunks (see
        :meth:`_fill_chunks`). A text's rendering is that of its lines joined by spaces (each
        line, never empty, has at least one token)."""
        assert self.profile is not None
        pretokens = self.profile.pretokens
        if pretokens is None:
            return self._render_cached(texts, _CHUNK.findall, self._chunks, self._fill_chunks, 0)
        flags = list(map(_is_plain, texts))
        if all(flags):
            return self._render_cached(texts, pretokens.findall, self._pretokens, self._fill_pretokens, 1)
        plain_texts = list(compress(texts, flags))
        other_at = list(compress(range(len(texts)), map(not_, flags)))
        line_lists = [_LINE_CUT.split(texts[i]) for i in other_at]
        lines = list(chain.from_iterable(line_lists))
        line_flags = list(map(_is_plain, lines))
        # plain texts and plain lines in one call, the other lines through the chunk cache
        plain = self._render_cached(
            plain_texts + list(compress(lines, line_flags)),
            pretokens.findall,
            self._pretokens,
            self._fill_pretokens,
            1,
        )
        other = iter(
            self._render_cached(
                list(compress(lines, map(not_, line_flags))),
                _CHUNK.findall,
                self._chunks,
                self._fill_chunks,
                0,
            )
        )
        plain_lines = iter(plain[len(plain_texts) :])
        rendered = [next(plain_lines) if f else next(other) for f in line_flags]
        out = list(texts)
        for i, text in zip(compress(range(len(texts)), flags), plain, strict=False):  # plain texts
            out[i] = text
        start = 0
        for i, text_lines in zip(other_at, line_lists, strict=True):
            end = start + len(text_lines)
            out[i] = " ".join(rendered[start:end])
            start = end
        return out

    def _render_cached(
        self,
        texts: list[str],
        split: Callable[[str], list[str]],
        cache: dict[str, str],
        fill: Callable[[list[list[str]]], int],
        which: int,
    ) -> list[str]:
        """Each text cut by ``split``, its pieces looked up in ``cache`` and joined, the missing
        pieces rendered together first by ``fill``.

        Two ways to find the missing pieces, whichever is cheaper for the state of the cache
        (``self._cold[which]``): while many pieces are new (a cold cache: the start of a job), the
        set of the batch's pieces minus the cache; once most are cached, a C-level ``join`` per
        text straight away, and the set way only for the few texts where a lookup failed.
        """
        cold = self._cold
        lookup = cache.__getitem__  # ``fill`` may clear the cache, never replace it
        if cold[which]:
            piece_lists = list(map(split, texts))
            new = fill(piece_lists)
            cold[which] = new * 20 > sum(map(len, piece_lists))  # over 5% of the pieces were new
            return [" ".join(map(lookup, pieces)) for pieces in piece_lists]
        out = []
        redo: list[tuple[int, list[str]]] = []
        for i, text in enumerate(texts):
            pieces = split(text)
            try:
                out.append(" ".join(map(lookup, pieces)))
            except KeyError:
                out.append("")
                redo.append((i, pieces))
        if redo:
            fill([pieces for _, pieces in redo])
            for i, pieces in redo:
                out[i] = " ".join(map(lookup, pieces))
            cold[which] = len(redo) * 4 > len(texts)  # a quarter of the texts had a new piece
        return out

    def __call__(self, texts: Sequence[str]) -> list[str]:
        if not self.chunked:
            return self._render_direct(texts, self.add_special_tokens)
        # special-token text is split by the tokenizer itself; one search over the whole batch
        # (no special token holds "\0") usually shows there is none
        if self._specials is not None and self._has_special("\0".join(texts)):
            special = list(map(self._has_special, texts))
            direct = [i for i, s in enumerate(special) if s]
            cut = [i for i, s in enumerate(special) if not s]
            out = list(texts)
            rendered = self._render_direct([texts[i] for i in direct], self.add_special_tokens)
            with self._lock:
                rendered += self._render_chunked([texts[i] for i in cut])
            for i, text in zip(direct + cut, rendered, strict=True):
                out[i] = text
            return out
        with self._lock:  # the cache must not change under a batch half rendered
            return self._render_chunked(list(texts))

    def _render_direct(self, texts: Sequence[str], add_special_tokens: bool) -> list[str]:
        encodings = self.tokenizer.encode_batch_fast(list(texts), add_special_tokens=add_special_tokens)
        return [self.render(encoding.ids) for encoding in encodings]


class TokenTables:
    """Per-tokenizer lookup tables built once: id -> token string and id -> decoded string."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        vocab = tokenizer.get_vocab(with_added_tokens=True)
        self.tokens: list[str] = [""] * (max(vocab.values()) + 1)
        for token, index in vocab.items():
            self.tokens[index] = token
        self._decoded: list[str] | None = None

    @property
    def decoded(self) -> list[str]:
        """``tokenizer.decode([id])`` for every id (special tokens decode to "")."""
        if self._decoded is None:
            self._decoded = self.tokenizer.decode_batch([[i] for i in range(len(self.tokens))])
        return self._decoded


_tables_lock = threading.Lock()
_tables: dict[str, TokenTables] = {}


def token_tables(name: str) -> TokenTables:
    from bonepick.data.tokenizers import load_tokenizer

    with _tables_lock:
        if name not in _tables:
            _tables[name] = TokenTables(load_tokenizer(name))
        return _tables[name]


# ---------------------------------------------------------------------------------------------
# normalizers


class WhitespaceNormalizer(Normalizer):
    """Collapse every run of whitespace to one space and strip the ends."""

    name = "whitespace"

    def normalize(self, text: str) -> str:
        return collapse_whitespace(text)

    # The hot path of fastText inference: one comprehension per batch, no call per text.
    def normalize_batch(self, texts: Sequence[str]) -> list[str]:
        return [" ".join(t.split()) for t in texts]

    def prepare_batch(self, texts: Sequence[str], max_length: int | None = None) -> list[str]:
        if not max_length:
            return [" ".join(t.split()) for t in texts]
        # The collapsed form of a prefix is a prefix of the collapsed whole, so a long text only
        # needs its head: 2 * max_length characters give max_length unless the head is mostly
        # whitespace, and those few texts are redone whole.
        head = 2 * max_length
        if max(map(len, texts), default=0) <= head:  # no long text in this batch
            return [" ".join(t.split())[:max_length] for t in texts]
        out = [" ".join(t[:head].split())[:max_length] for t in texts]
        for i in compress(range(len(out)), map(max_length.__gt__, map(len, out))):
            if len(texts[i]) > head:
                out[i] = " ".join(texts[i].split())[:max_length]
        return out


class PlsfixNormalizer(Normalizer):
    """Repair encoding errors and Unicode oddities (see :func:`fix_text`)."""

    name = "plsfix"

    def normalize(self, text: str) -> str:
        return fix_text(text)


class TokenizerNormalizer(BatchNormalizer):
    """plsfix, then the dolma2 tokens of the text joined by spaces (byte-level forms: ``Ġ`` for a
    leading space, ``Ċ`` for a newline)."""

    name = "tokenizer"

    def __init__(self) -> None:
        tables = token_tables("dolma2")
        self.render = TokenRenderer(
            tables.tokenizer, tables.tokens, add_special_tokens=True, profile="dolma2"
        )

    def normalize_batch(self, texts: Sequence[str]) -> list[str]:
        return self.render([fix_text(t) for t in texts])


class UltraFineNormalizer(BatchNormalizer):
    """The text preparation of the Ultra-FineWeb fastText classifier: at most two newlines in a
    row, lowercase, no diacritics, each Ultra-FineWeb token decoded on its own and joined by
    spaces, and newlines/tabs/carriage returns written as ``\\n``, ``\\t``, ``\\r``."""

    name = "ultrafine"

    def __init__(self) -> None:
        tables = token_tables("ultra_fineweb")
        self.render = TokenRenderer(
            tables.tokenizer, tables.decoded, add_special_tokens=False, profile="ultra_fineweb"
        )

    def lower(self, text: str) -> str:
        return text.lower()

    def prepare(self, text: str) -> str:
        return strip_diacritics(self.lower(limit_newlines(text)))

    def normalize_batch(self, texts: Sequence[str]) -> list[str]:
        out = []
        for text in self.render([self.prepare(t) for t in texts]):
            text = text.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
            out.append(" ".join(filter(None, text.split(" "))).strip())  # runs of spaces -> one
        return out


# Emails, URLs and long hex ids (commit hashes, UUIDs) in commit messages carry no quality signal
# and fragment into many tokens: each becomes one placeholder word. Same patterns and order as
# bonepick 0.5.0, so outputs stay identical.
# Each pattern opens with a possessive lookahead that any match must pass (a local part is the
# whole run of its characters up to "@"; a first domain label the whole run up to "."), so the
# scan rejects ordinary words at once instead of backtracking through them: same matches, ~2x
# faster.
_EMAIL = re.compile(
    r"\b(?=[a-z0-9._%+-]++@)[a-z0-9]+(?:[._%+-][a-z0-9]+)*@(?:[a-z0-9-]+\.)+[a-z]{2,63}\b", re.I
)
_URL = re.compile(
    r"\b(?=[a-z0-9-]++\.|https?://)(?:https?://)?(?:www\.)?"
    r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"  # first domain label
    r"(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+"  # more labels
    r"(?::\d{2,5})?"  # port
    r"(?:/[^\s<>\"'(){}\[\]]*)?"  # path, query, fragment
    r"\b",
    re.I,
)
# Every URL match holds "x.y" (the end of a label, a dot, the start of the next) and no
# whitespace, and right after a whitespace character the scan sees the same as at the start of a
# string (\b and the lookarounds look at a non-word neighbour): so the pattern only needs to run
# over the whitespace-free runs that hold such a dot. A literal-led pattern finds those dots with
# a fast scan, where the URL pattern's own search tries every position.
_URL_DOT = re.compile(r"\.(?<=[a-z0-9]\.)(?=[a-z0-9])", re.I)
_SPACE = re.compile(r"\s")


def _replace_urls(text: str) -> str:
    """``_URL.sub(" ___URL___ ", text)``, run only over the runs of non-whitespace that hold a
    candidate dot (see above)."""
    n = len(text)
    out: list[str] = []
    done = 0  # text[:done] is settled
    backwards = ""
    for dot in _URL_DOT.finditer(text):
        at = dot.start()
        if at < done:  # in the run just replaced
            continue
        if not backwards:
            backwards = text[::-1]
        space = _SPACE.search(backwards, n - at)  # the last whitespace before the dot
        start = n - space.start() if space else 0
        space = _SPACE.search(text, at)  # the first one after it
        end = space.start() if space else n
        out.append(text[done:start])
        out.append(_URL.sub(" ___URL___ ", text[start:end]))
        done = end
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)


# A hex id is a whole run of 16+ [0-9a-f-] (not preceded by a hex digit), with an optional
# "@digits". Both patterns open with a character class, so re scans ahead for that class in C
# (2-3x faster than the same patterns opening with a lookaround); the test checks them against
# bonepick 0.5.0's form.
_HEX_RUN = re.compile(r"[0-9a-fA-F-][0-9a-fA-F-]{15}")  # a match needs 16 such characters in a row
_HEX = re.compile(r"[0-9a-f-](?<![0-9a-f].)[0-9a-f-]{15,}(?:@[0-9]+)?(?![0-9a-f])", re.I)
# a placeholder standing alone between whitespace keeps its case and loses its underscores
_PLACEHOLDER = re.compile(r"(?<!\S)___(CODE|URL|ADDR)___(?!\S)")


class UltraFineCommitsNormalizer(UltraFineNormalizer):
    """``ultrafine`` for commit messages: emails, URLs and hex ids of 16+ characters become the
    words ``ADDR``, ``URL`` and ``CODE`` first."""

    name = "ultrafine-commits"

    def lower(self, text: str) -> str:
        if "___" not in text:
            return text.lower()
        parts = _PLACEHOLDER.split(text)
        parts[0::2] = [p.lower() for p in parts[0::2]]
        return "".join(parts)

    def prepare(self, text: str) -> str:
        if "@" in text:
            text = _EMAIL.sub(" ___ADDR___ ", text)
        if "." in text:
            text = _replace_urls(text)
        if _HEX_RUN.search(text):
            text = _HEX.sub(" ___CODE___ ", text)
        return super().prepare(text.strip())


class HyperFineNormalizer(BatchNormalizer):
    """plsfix, at most two newlines in a row, lowercase, no diacritics; each line (run of text
    between tabs/newlines) has its whitespace collapsed and is written as its dolma2 tokens; the
    separators are spelled out (``\\ n``, ``\\ t``) between them."""

    name = "hyperfine"
    lowercase = True
    collapse_spaces = True
    indent_with_tabs = False

    def __init__(self) -> None:
        tables = token_tables("dolma2")
        self.render = TokenRenderer(
            tables.tokenizer, tables.tokens, add_special_tokens=False, profile="dolma2"
        )

    def prepare(self, text: str) -> str:
        text = limit_newlines(fix_text(text))
        if self.lowercase:
            text = text.lower()
        text = strip_diacritics(text)
        if self.indent_with_tabs:
            text = spaces_to_tabs(text)
        return text

    def normalize_batch(self, texts: Sequence[str]) -> list[str]:
        split = _SEPARATORS.split
        part_lists = [split(self.prepare(text)) for text in texts]  # segment, separator, ...
        segments: list[str] = []
        for parts in part_lists:
            segments += parts[0::2]
        if self.collapse_spaces:
            segments = [" ".join(p.split()) for p in segments]
        rendered = self.render(segments)
        escape = _escaped_separators.__getitem__
        out = []
        start = 0
        for parts in part_lists:
            # tokens of each segment, then its escaped separator: " ".join of both, in order
            end = start + (len(parts) + 1) // 2
            parts[0::2] = rendered[start:end]
            parts[1::2] = map(escape, parts[1::2])
            start = end
            out.append(" ".join(parts).strip())
        return out


class HyperFineCodeNormalizer(HyperFineNormalizer):
    """``hyperfine`` for source code: case and spaces kept, space indentation turned into tabs."""

    name = "hyperfine-code"
    lowercase = False
    collapse_spaces = False
    indent_with_tabs = True


class PotionNormalizer(Normalizer):
    """plsfix, lowercase, no diacritics; a paragraph break becomes ``¶``, a line break ``·``, a
    tab ``↦``, and other whitespace runs one space."""

    name = "potion"

    def normalize(self, text: str) -> str:
        text = strip_diacritics(limit_newlines(fix_text(text)).lower())
        if "\r" in text:
            text = _CR_PARAGRAPH.sub("¶", text)
            text = _CR_LINE.sub("·", text)
        else:
            text = text.replace("\n\n", "¶").replace("\n", "·")
        return collapse_whitespace(text.replace("\t", "↦"))


_CR_PARAGRAPH = re.compile(r"\r?\n\r?\n")
_CR_LINE = re.compile(r"\r?\n")


class PotionCodeNormalizer(Normalizer):
    """plsfix, no diacritics, space indentation as tabs; every line break becomes ``¶`` and every
    tab ``↦`` (case and spaces kept)."""

    name = "potion-code"

    def normalize(self, text: str) -> str:
        text = spaces_to_tabs(strip_diacritics(limit_newlines(fix_text(text))))
        if "\r" in text:
            text = _CR_LINE.sub("¶", text)
        else:
            text = text.replace("\n", "¶")
        return text.replace("\t", "↦").strip()


NORMALIZERS: dict[str, Callable[[], Normalizer]] = {
    "whitespace": WhitespaceNormalizer,
    "plsfix": PlsfixNormalizer,
    "tokenizer": TokenizerNormalizer,
    "ultrafine": UltraFineNormalizer,
    "ultrafine-commits": UltraFineCommitsNormalizer,
    "hyperfine": HyperFineNormalizer,
    "hyperfine-code": HyperFineCodeNormalizer,
    "potion": PotionNormalizer,
    "potion-code": PotionCodeNormalizer,
}
ALIASES: dict[str, str] = {"ultrafine-plus": "hyperfine"}

_cache: dict[str, Normalizer] = {}
_cache_lock = threading.Lock()


def list_normalizers() -> list[str]:
    """Registered names (aliases not included), in registry order."""
    return list(NORMALIZERS)


def canonical_name(name: str) -> str:
    key = name.strip().lower().replace("_", "-")
    key = ALIASES.get(key, key)
    if key not in NORMALIZERS:
        aliases = ", ".join(f"{a} (= {b})" for a, b in ALIASES.items())
        raise UsageError(
            f"unknown normalizer '{name}'",
            hint=f"use one of: {', '.join(NORMALIZERS)}; aliases: {aliases}",
        )
    return key


def get_normalizer(name: str) -> Normalizer:
    """The normalizer called ``name`` (built once per process)."""
    key = canonical_name(name)
    with _cache_lock:
        if key not in _cache:
            _cache[key] = NORMALIZERS[key]()
        return _cache[key]
