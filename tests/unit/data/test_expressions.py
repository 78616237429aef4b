"""Batch forms of jq expressions: same values and the same file:line errors as the per-row ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from bonepick.data.expressions import Expression
from bonepick.errors import DataError
from bonepick.io.blocks import iter_blocks
from bonepick.io.jsonl import iter_rows

ROWS = (
    b'{"id": 1, "text": "first", "meta": {"lang": "en"}}\n'
    b"\n"
    b'{"id": 2, "text": "second", "meta": {"lang": "fr"}}\n'
    b"   \n"
    b'{"text": "third, no id"}\n'
)


@pytest.fixture
def shard(tmp_path: Path) -> Path:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(ROWS)
    return path


@pytest.mark.parametrize("source", [".text", ".meta.lang", ".id", '(.text + "!")', "[.id]"])
def test_batch_values_equal_per_row_values(shard: Path, source: str) -> None:
    expression = Expression(source)
    [block] = list(iter_blocks(shard))
    rows = block.parse()
    lines = list(block.row_line_numbers())
    assert lines == [number for number, _ in iter_rows(shard)] == [1, 3, 5]
    expected = []
    for row, line in zip(rows, lines, strict=True):
        values = expression.all(row, shard, line)
        expected.append(values[0] if values else None)
    assert expression.firsts(rows, shard, lines) == expected
    if all(isinstance(v, str) for v in expected):
        assert expression.texts(rows, shard, lines) == expected


def test_batch_text_error_names_the_physical_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"text": "ok"}\n\n{"text": 7}\n')
    [block] = list(iter_blocks(path))
    with pytest.raises(DataError) as error:
        Expression(".text").texts(block.parse(), path, block.row_line_numbers())
    assert f"{path}:3" in str(error.value) and "gave int, expected a string" in str(error.value)
