"""The normalizers against bonepick 0.5.0's outputs (every golden row), the deliberate differences
pinned one by one, and the fast paths checked against the plain computations they replace."""

from __future__ import annotations

import random
import re
import unicodedata
from collections import defaultdict

import orjson
import pytest
import zstandard

from bonepick.data.normalizers import (
    _CHUNK,
    _LINE_CUT,
    _PLAIN,
    _PROFILES,
    NORMALIZERS,
    TokenRenderer,
    canonical_name,
    collapse_whitespace,
    fix_text,
    get_normalizer,
    spaces_to_tabs,
    strip_diacritics,
    token_tables,
)
from bonepick.errors import UsageError
from bonepick.io import read_rows
from tests.conftest import CORPORA, SHARED

GOLDEN = SHARED / "golden" / "normalizers.jsonl.zst"

# The one golden text where the output differs on purpose (see docs/guide/normalizers.md): the
# original ran plsfix on word-boundary fragments, so this mojibake was never repaired.
FIXED = {
    "plsfix": "The Mona Lisa doesn't have eyebrows — it's true. Café",
    "tokenizer": "The ĠMona ĠLisa Ġdoesn 't Ġhave Ġeyebrows ĠâĢĶ Ġit 's Ġtrue . ĠCafÃ©",
    "ultrafine": None,  # ultrafine(-commits) never ran plsfix: unchanged
    "ultrafine_commits": None,
    "hyperfine": "the Ġmon a Ġl isa Ġdoesn 't Ġhave Ġeyebrows ĠâĢĶ Ġit 's Ġtrue . Ġcafe",
    "hyperfine_code": "The ĠMona ĠLisa Ġdoesn 't Ġhave Ġeyebrows ĠâĢĶ Ġit 's Ġtrue . ĠCafe",
    "potion": "the mona lisa doesn't have eyebrows — it's true. cafe",
    "potion_code": "The Mona Lisa doesn't have eyebrows — it's true. Cafe",
}


@pytest.fixture(scope="module")
def golden() -> dict[str, list[dict]]:
    rows = defaultdict(list)
    data = zstandard.ZstdDecompressor().stream_reader(GOLDEN.open("rb")).read()
    for line in data.splitlines():
        row = orjson.loads(line)
        rows[row["normalizer"]].append(row)
    return rows


def test_every_golden_row(golden) -> None:
    assert sum(map(len, golden.values())) == 3375
    assert {canonical_name(n) for n in golden} == set(NORMALIZERS)
    checked = 0
    for name, rows in golden.items():
        outputs = get_normalizer(name).normalize_batch([r["text"] for r in rows])
        for row, output in zip(rows, outputs, strict=True):
            checked += 1
            if row["id"] == "edge:mojibake" and FIXED.get(name) is not None:
                assert output == FIXED[name], name
                assert output != row["expected"]
            else:
                assert output == row["expected"], (name, row["id"])
    assert checked == 3375


def test_single_text_equals_batch(golden) -> None:
    for name, rows in golden.items():
        normalizer = get_normalizer(name)
        texts = [r["text"] for r in rows[::25]]
        assert [normalizer.normalize(t) for t in texts] == normalizer.normalize_batch(texts)


def test_names_spellings_and_alias() -> None:
    assert canonical_name("ultrafine_commits") == "ultrafine-commits"
    assert canonical_name(" Potion_Code ") == "potion-code"
    assert canonical_name("ultrafine-plus") == canonical_name("ultrafine_plus") == "hyperfine"
    assert get_normalizer("hyperfine_code") is get_normalizer("hyperfine-code")
    with pytest.raises(UsageError) as caught:
        canonical_name("hyperfast")
    assert "hyperfast" in caught.value.message
    for name in NORMALIZERS:
        assert name in caught.value.hint


# --- deliberate differences from bonepick 0.5.0 ------------------------------------------------


def test_fix_repairs_mojibake_across_word_boundaries() -> None:
    # 0.5.0 split the text at \b first: 'Â' and '£' landed in different fragments
    assert fix_text("a fine of Â£5 inflicted") == "a fine of £5 inflicted"
    assert fix_text("Michaelâ€™s Mostly Mac Thoughts") == "Michael's Mostly Mac Thoughts"
    assert get_normalizer("potion").normalize("CommuniquÃ©, Replies") == "communique, replies"


def test_fix_composes_accents_across_word_boundaries() -> None:
    # a combining accent is not a word character, so 0.5.0 left 'e' + U+0301 decomposed
    assert fix_text("cafe\u0301 au lait") == "caf\u00e9 au lait"
    assert get_normalizer("tokenizer").normalize("cafe\u0301") == get_normalizer("tokenizer").normalize(
        "café"
    )


def test_fix_keeps_long_texts_whole() -> None:
    # 0.5.0 cut texts longer than 2**20 characters at the next newline
    text = ("word " * 40 + "\n") * 5300 + "the end’s here"
    assert len(text) > 2**20
    assert fix_text(text) == text.replace("’", "'")


def test_fix_keeps_text_plsfix_rejects(monkeypatch: pytest.MonkeyPatch) -> None:
    # 0.5.0 retried on half the text after a plsfix error, silently dropping the rest
    def fail(text: str) -> str:
        raise ValueError("cannot fix")

    monkeypatch.setattr("plsfix.fix_text", fail)
    text = "naïve text, kept whole"
    assert fix_text(text) == text
    assert get_normalizer("potion").normalize(text) == "naive text, kept whole"


def test_fix_keeps_html_entities_like_the_original() -> None:
    text = "Unescape '&amp;', '&lt;' and '&#62;' in “docs”"
    assert fix_text(text) == "Unescape '&amp;', '&lt;' and '&#62;' in \"docs\""


# --- fast paths against the plain computations ---------------------------------------------------


def test_plain_ascii_skips_plsfix_because_plsfix_never_changes_it() -> None:
    import plsfix

    rng = random.Random(5)
    alphabet = [chr(c) for c in range(0x20, 0x7F) if chr(c) != "&"] + ["\t", "\n", "\n\n", "  "]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 80))) for _ in range(3000)]
    texts += [t + "&" for t in texts[:500]]  # pieces end with the "&" they were cut after
    plain = re.compile(r"[\t\n\x20-\x7e]*")
    texts += [p for t in _corpus_slice() for p in t.split("&") if plain.fullmatch(p)]
    assert len(texts) > 4000
    for text in texts:
        assert plsfix.fix_text(text) == text


def test_plain_checks_equal_their_regexes_on_every_code_point() -> None:
    # the byte-translate checks stand for a regex search / fullmatch; one character of each
    # code point (surrogates included), each inside plain text, and a few mixes
    from bonepick.data.normalizers import _NEEDS_FIX, _fix_safe, _is_plain

    texts = [chr(c) for c in range(0x110000)] + [f"ab {chr(c)}\tcd" for c in range(0x200)]
    texts += ["", "plain text\n", "with\r\nbreaks", "caf\u00e9", "\x00", "\x7f", "tab\there"]
    assert [_fix_safe(t) for t in texts] == [_NEEDS_FIX.search(t) is None for t in texts]
    assert [_is_plain(t) for t in texts] == [_PLAIN.fullmatch(t) is not None for t in texts]


def test_collapse_whitespace_equals_regex_on_every_code_point() -> None:
    # str.split() and re's \s both use Py_UNICODE_ISSPACE: the same 29 characters
    every = [chr(c) for c in range(0x110000)]
    spaces = [c for c in every if c.isspace()]
    assert re.findall(r"\s", "".join(every)) == spaces and len(spaces) == 29
    # every code point alone, doubled, and next to every whitespace character, between words
    text = "".join(f"a{c}b{c}{c}c {c}\t" for c in every) + "".join(
        f"x{s}{c}y" for s in spaces for c in spaces
    )
    expected = re.sub(r"\s+", " ", text).strip()
    assert collapse_whitespace(text) == expected
    assert get_normalizer("whitespace").normalize_batch([text, " \u3000 ", ""]) == [expected, "", ""]
    sample = "a\u00a0 b\u2003\u2009c\u200bd\x1c\x1fe\u3000 \n\t f  "
    assert collapse_whitespace(sample) == re.sub(r"\s+", " ", sample).strip()


def test_whitespace_cut_from_the_head_equals_cut_of_the_whole() -> None:
    # whitespace + max length normalizes only the head of a long text (when that is enough)
    rng = random.Random(11)
    pieces = ["word", "x", " ", "  ", "\n", "\t \n", " " * 50, "\u3000", "\u00a0", "é", "long" * 20]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 120))) for _ in range(3000)]
    texts += [" " * 500 + "a b", "a" + " " * 500 + "b", "ab " * 300, "", "   "]
    texts += _corpus_slice()
    normalizer = get_normalizer("whitespace")
    for max_length in (1, 2, 3, 7, 30, 200, 5000):
        expected = [collapse_whitespace(t)[:max_length] for t in texts]
        assert normalizer.prepare_batch(texts, max_length) == expected


@pytest.mark.parametrize("max_length", [None, 0, 1, 40])
def test_prepare_batch_is_normalize_then_cut(golden, max_length: int | None) -> None:
    from bonepick.data.preprocess import TextPreparer

    for name, rows in golden.items():
        texts = [r["text"] for r in rows[::15]]
        expected = [t[:max_length] if max_length else t for t in get_normalizer(name).normalize_batch(texts)]
        preparer = TextPreparer(name, max_length)
        assert preparer.batch(texts) == expected
        assert preparer.batch(tuple(texts)) == expected
        assert preparer(texts[0]) == expected[0]
    assert TextPreparer(None, 3).batch(("abcdef", "ab")) == ["abc", "ab"]
    assert TextPreparer(None, None).batch(("abcdef",)) == ["abcdef"]


def test_strip_diacritics_equals_per_character_filter() -> None:
    text = "Crème brûlée, Ångström, Dvořák, ﬁne, Ⅻ, ｆｕｌｌ, 東京, Привет, e\u0301\u0308 ok"
    texts = [
        text,
        "".join(map(chr, range(0x80, 0x110000))),
        "a\U0001d167b",
        "\U0001d167",
        "\u0301",
        "x\U0001f600",
    ]
    texts += ["é" + chr(c) for c in range(0x10000, 0x110000, 97)]  # beyond the BMP: the second pattern
    for t in texts:
        plain = "".join(c for c in unicodedata.normalize("NFKD", t) if unicodedata.category(c) != "Mn")
        assert strip_diacritics(t) == plain


def _reference_spaces_to_tabs(text: str) -> str:
    widths = []
    for line in text.split("\n"):
        body = line.lstrip(" ")
        if body and body[0] != "\t" and len(line) > len(body):
            widths.append(len(line) - len(body))
    if not widths:
        return text
    import math

    unit = math.gcd(*widths)
    out = []
    for line in text.split("\n"):
        n = len(line) - len(line.lstrip(" "))
        out.append("\t" * (n // unit) + " " * (n % unit) + line[n:])
    return "\n".join(out)


@pytest.mark.parametrize(
    "text",
    [
        "def f():\n    if x:\n        return 1\n    \n  \t# tab after spaces\n",
        "a\n   b\n      c\n",
        "x\n  y\n    \n",
        "   \n\n  ",
        "no indentation\nat all",
        "\tdef f():\n\t\treturn 1\n",
    ],
)
def test_spaces_to_tabs(text: str) -> None:
    assert spaces_to_tabs(text) == _reference_spaces_to_tabs(text)


def _tricky_texts(count: int, seed: int) -> list[str]:
    pieces = [
        "a", "Word", " the", "x", "’", "'s", "'ll", "ing", "é", "e\u0301", "ß", "ﬁ", "東京", "Привет",
        "١٢٣", "12345", "7", ".", ",", "...", "!?", "(", ")", "[", "{", "-", "—", "–", "_", "/", "\\",
        "<|endoftext|>", "<|", "|>", "@", "#", "$", "%", "&amp;", " ", "  ", "   ", "\t", "\n", "\n\n",
        "\r\n", "\r", "\u3000", "\u00a0", "\u2028", "😀", "👍🏽", "ｆｕｌｌ", "µ", "Ω", "ǅ", "\x00", "\x1f",
    ]  # fmt: skip
    rng = random.Random(seed)
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 30))) for _ in range(count)]


def _corpus_slice() -> list[str]:
    texts = []
    for corpus in ("spamassassin", "python_docs", "fortunes", "brown_paragraphs"):
        rows = read_rows(CORPORA / corpus / "test" / "shard_00000.jsonl.zst")
        texts.extend(row["text"] for _, row in zip(range(150), rows, strict=False))
    return texts


@pytest.mark.parametrize(("tokenizer", "table"), [("dolma2", "tokens"), ("ultra_fineweb", "decoded")])
def test_chunked_tokenization_equals_plain_encoding(tokenizer: str, table: str) -> None:
    tables = token_tables(tokenizer)
    lookup = getattr(tables, table)
    texts = _corpus_slice() + _tricky_texts(1500, seed=7)
    texts += [t.lower() for t in texts[:100]] + ["", " ", "\n", "a", " a", "a ", "<|endoftext|> a b"]
    # texts with a character beyond plain ASCII are cut into lines first: line breaks before a
    # non-space, at the start, after punctuation, spaces, tabs, \r, other breaks
    texts += ["é\nb", "\nb é", "x.\nb ü", " \n\ty\nä", "ü\n\nb\r\nc", "…\n's\n12\n x", "\u2028\nq\n\u00a0z"]
    expected = [
        " ".join(lookup[i] for i in e.ids)
        for e in tables.tokenizer.encode_batch(texts, add_special_tokens=False)
    ]
    for cache_size, batch in ((200_000, len(texts)), (64, 16)):  # a tiny cache: cleared again and again
        render = TokenRenderer(
            tables.tokenizer, lookup, add_special_tokens=False, profile=tokenizer, cache_size=cache_size
        )
        got, largest, largest_pieces = [], 0, 0
        for start in range(0, len(texts), batch):
            got += render(texts[start : start + batch])
            # bounded: the cache limit, or one batch's distinct chunks (pre-tokens) when those
            # alone exceed it
            chunks = {c for t in texts[start : start + batch] for c in _CHUNK.findall(t)}
            largest = max(largest, len(chunks))
            assert len(render._chunks) <= max(cache_size, largest)
            # plain texts are cut into pre-tokens whole, other texts' plain lines and chunks too
            lines = [line for t in texts[start : start + batch] for line in _LINE_CUT.split(t)]
            plain = [t for t in lines + list(chunks) if _PLAIN.fullmatch(t)]
            pieces = {p for t in plain for p in _PROFILES[tokenizer].pretokens.findall(t)}
            largest_pieces = max(largest_pieces, len(pieces))
            assert len(render._pretokens) <= max(cache_size, largest_pieces)
        mismatches = [t for t, a, b in zip(texts, got, expected, strict=True) if a != b]
        assert not mismatches, mismatches[:3]
        # again, the way a warm cache is used (join first, fill only for texts that missed)
        render._cold = [False, False]
        again = []
        for start in range(0, len(texts), batch):
            render._cold = [False, False]
            again += render(texts[start : start + batch])
        assert again == expected
        if cache_size < largest:
            assert len(render._chunks) < len({c for t in texts for c in _CHUNK.findall(t)})
            assert len(render._pretokens) <= max(cache_size, largest_pieces)


@pytest.mark.parametrize("tokenizer", ["dolma2", "ultra_fineweb"])
def test_plain_text_pretokens_equal_the_tokenizers_pre_tokenizer(tokenizer: str) -> None:
    # each pre-tokenizer, written as one Python regex for plain text (printable ASCII, \t, \n, \r)
    from bonepick.data.normalizers import _BYTE_LEVEL, _PLAIN

    pretokens = _PROFILES[tokenizer].pretokens
    assert pretokens is not None
    rng = random.Random(13)
    bits = [
        "a", "Z", "word", "'s", "'S", "'ll", "'Re", "'d", "'x", "'", "0", "12", "1234567", " ", "  ", "   ", "\t",
        "\n", "\r\n", "\r", " \n", "\n ", ".", "...", ",", "!?", "(", ")", "-", "_", "$", "#", "<", "|>", "@", "~",
        " \t", "\t\t", "`", "{", "\\",
    ]  # fmt: skip
    texts = ["".join(rng.choice(bits) for _ in range(rng.randint(1, 40))) for _ in range(4000)]
    texts += [t for t in _corpus_slice() if _PLAIN.fullmatch(t)]
    texts += [t.lower() for t in texts[-300:]]
    pre = token_tables(tokenizer).tokenizer.pre_tokenizer
    for text in texts:
        expected = [piece for piece, _ in pre.pre_tokenize_str(text)]
        assert [p.translate(_BYTE_LEVEL) for p in pretokens.findall(text)] == expected, text


@pytest.mark.parametrize("tokenizer", ["dolma2", "ultra_fineweb"])
def test_whole_vocabulary_entries_are_their_own_tokens(tokenizer: str) -> None:
    # the renderer looks a pre-token up in the vocabulary before running BPE on it: exact only
    # because BPE merges every entry of the shipped tokenizers back into itself (special tokens
    # aside: they never reach the lookup)
    tables = token_tables(tokenizer)
    vocab = tables.tokenizer.get_vocab(with_added_tokens=False)
    added = {t.content for t in tables.tokenizer.get_added_tokens_decoder().values()}
    entries = [t for t in vocab if t not in added]
    assert len(entries) > 99_000
    model = tables.tokenizer.model
    broken = [t for t in entries if [x.id for x in model.tokenize(t)] != [vocab[t]]]
    assert not broken, broken[:5]


def test_ultrafine_commits_placeholders() -> None:
    text = "Merge https://github.com/org/repo/pull/12 from Jane.Doe@Example.org: fix 3f2a9c0e5b7d1a2c4e6f8a0b"
    out = get_normalizer("ultrafine_commits").normalize(text)
    assert "URL" in out.split() and "ADDR" in out.split() and "CODE" in out.split()
    assert "github" not in out and "example" not in out and "3f2a" not in out
    assert out.startswith("merge ")


def test_commit_patterns_equal_their_unfiltered_forms() -> None:
    # the possessive lookaheads and the "@"/"."/16-run prefilters only skip hopeless positions
    from bonepick.data import normalizers as n

    plain_email = re.compile(n._EMAIL.pattern.replace(r"(?=[a-z0-9._%+-]++@)", ""), re.I)
    plain_url = re.compile(n._URL.pattern.replace(r"(?=[a-z0-9-]++\.|https?://)", ""), re.I)
    assert plain_email.pattern != n._EMAIL.pattern and plain_url.pattern != n._URL.pattern
    # bonepick 0.5.0's hex pattern (ours opens with the character class instead of lookarounds)
    plain_hex = re.compile(
        r"(?<![0-9a-f])(?=[0-9a-f-]{16,}(?:@[0-9]+)?(?![0-9a-f]))[0-9a-f-]+(?:@[0-9]+)?(?![0-9a-f])", re.I
    )
    bits = [
        "a", "b.c", "http://", "https://x.y/z?q=1", "www.", "x@y.com", "A.B@C-D.ORG", "-", "@12", " ", "\n",
        "3f2a9c0e5b7d1a2c", "deadbeef-cafe-f00d", "é", "ſ", "K", "1.2.3", "foo.bar:8080/p", "(", ")", '"',
        "user.name+tag@sub.example.co.uk", "0123456789abcdef@42", "e.g.", "----------------", "@1a", "F",
        "DEAD-BEEF-", "___CODE___", "___url___", "\u00a0", "\t", "\u3000", "_", "İ", "ı", "a.", ".b", "ü.de",
    ]  # fmt: skip
    rng = random.Random(3)
    texts = ["".join(rng.choice(bits) for _ in range(rng.randint(1, 25))) for _ in range(3000)]
    normalizer = get_normalizer("ultrafine-commits")
    changed = 0
    for text in texts:
        plain = plain_email.sub(" ___ADDR___ ", text)
        plain = plain_url.sub(" ___URL___ ", plain)
        plain = plain_hex.sub(" ___CODE___ ", plain)
        fast = n.UltraFineNormalizer.prepare(normalizer, plain.strip())
        assert normalizer.prepare(text) == fast, text
        assert n._replace_urls(text) == plain_url.sub(" ___URL___ ", text), text
        changed += plain != text
        pieces = n._PLACEHOLDER.split(text)  # lowercase except standalone placeholders
        pieces[0::2] = [p.lower() for p in pieces[0::2]]
        assert normalizer.lower(text) == "".join(pieces)
    assert changed > 1000
