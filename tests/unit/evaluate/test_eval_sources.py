"""Reading fastText files in blocks gives exactly what the line-by-line reader gives, and the
signature's batch path hashes exactly as one row at a time."""

from __future__ import annotations

from pathlib import Path

import pytest

from bonepick.errors import DataError
from bonepick.evaluate.results import Signature
from bonepick.evaluate.sources import iter_fasttext, iter_fasttext_blocks
from bonepick.io import read_rows
from tests.conftest import SPAM

SPAM_TEST = list(read_rows(SPAM / "test" / "part_00.jsonl.zst"))


def _blocks_as_rows(path: Path, size: int) -> list[tuple[int, list[str], str, int]]:
    rows = []
    for numbers, labels, texts, _ in iter_fasttext_blocks(path, size):
        assert len(numbers) == len(labels) == len(texts) <= size
        for number, label, text in zip(numbers, labels, texts, strict=True):
            rows.append((number, label if isinstance(label, list) else [label], text))
    return rows


@pytest.mark.parametrize("size", [1, 3, 64, 10_000])
def test_blocks_match_line_by_line_on_real_and_odd_lines(tmp_path: Path, size: int) -> None:
    lines = [f"__label__{r['label']} {' '.join(r['text'].split())}\n" for r in SPAM_TEST[:40]]
    odd = [
        "__label__ham __label__spam two labels\n",  # several labels: a list
        "\n",  # blank lines are skipped
        "   \n",
        "__label__spam\n",  # a label and no text
        "__label__ham  two spaces\n",
        "__label__ham tab\tinside and trailing space \n",
        "__label__spam no newline at the end",
    ]
    path = tmp_path / "test.txt"
    path.write_text("".join(lines[:20] + odd[:-1] + lines[20:] + odd[-1:]), encoding="utf-8")
    expected = [(number, labels, text) for number, labels, text, _ in iter_fasttext(path)]
    assert _blocks_as_rows(path, size) == expected
    assert sum(chars for *_, chars in iter_fasttext_blocks(path, size)) == sum(
        c for *_, c in iter_fasttext(path)
    )


def test_blocks_name_the_line_without_a_label(tmp_path: Path) -> None:
    path = tmp_path / "test.txt"
    path.write_text("__label__a one\n__label__b two\nno label here\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"test\.txt:3: line has no __label__ prefix"):
        list(iter_fasttext_blocks(path, 64))


def test_signature_batch_equals_rows_one_by_one() -> None:
    texts = [r["text"] for r in SPAM_TEST[:30]] + ["caf\udce9 surrogate"]
    for labels in (
        [r["label"] for r in SPAM_TEST[:30]] + ["ham"],  # class names: the batch path
        [1.0, 2, "x", ["a", "b"], {"k": 1}, True] * 5 + [None],  # anything else: row by row
    ):
        one, batch = Signature(), Signature()
        for text, label in zip(texts, labels, strict=True):
            one.add(text, label)
        batch.add_batch(texts, labels)
        assert batch.hexdigest() == one.hexdigest() and len(batch) == len(one)


def _shard_rows(path: Path, size: int, text: str = ".text", label: str = ".label") -> list[tuple]:
    from bonepick.data.expressions import Expression
    from bonepick.evaluate.evaluate import _source_blocks
    from bonepick.evaluate.sources import Source

    rows = []
    for numbers, texts, values, _ in _source_blocks(
        Source(path, "jsonl"), Expression(text), Expression(label), size
    ):
        rows.extend(zip(numbers, texts, values, strict=True))
    return rows


@pytest.mark.parametrize("size", [1, 2, 64])
def test_shard_blocks_skip_blank_lines_and_fall_back_to_expressions(tmp_path: Path, size: int) -> None:
    path = tmp_path / "x.jsonl"
    lines = [
        '{"text": "a", "label": "ham"}',
        "",
        '{"text": "b", "label": ["spam"]}',
        '{"text": "d", "label": null, "alt": "ham"}',  # null label: through the expression
        "   ",
        '{"text": "c", "label": 1}',
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert _shard_rows(path, size, label=".label // .alt") == [
        (1, "a", "ham"),
        (3, "b", ["spam"]),
        (4, "d", "ham"),
        (6, "c", 1),
    ]
    nested = tmp_path / "nested.jsonl"
    nested.write_text(
        '{"body": {"t": "seven"}, "label": "x"}\n{"text": "top", "label": "y"}\n', encoding="utf-8"
    )
    assert _shard_rows(nested, size, text=".body.t // .text") == [(1, "seven", "x"), (2, "top", "y")]


def test_shard_blocks_name_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n\n{"text": "b", "label": "y"\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"x\.jsonl:3: malformed JSON"):
        _shard_rows(path, 64)
    path.write_text('{"text": "a", "label": "x"}\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"x\.jsonl:2: expected a JSON object"):
        _shard_rows(path, 64)
    path.write_text('{"text": "a", "label": "x"}\n\n{"text": 7, "label": "y"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"x\.jsonl:3: jq expression '\.text' gave int"):
        _shard_rows(path, 64)
