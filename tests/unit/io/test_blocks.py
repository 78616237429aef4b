"""Block reading must agree with the line reader: same rows, blank lines skipped, true line numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from bonepick.errors import DataError
from bonepick.io import read_rows, write_rows
from bonepick.io.blocks import iter_blocks
from bonepick.io.jsonl import iter_lines
from tests.conftest import SPAM


def test_blocks_match_iter_lines_on_real_shards(tmp_path: Path) -> None:
    rows = list(read_rows(SPAM / "test" / "part_00.jsonl.zst"))
    shard = tmp_path / "a.jsonl.gz"
    write_rows(shard, rows)
    for path in (shard, SPAM / "train" / "part_01.jsonl.zst"):
        expected = [raw.rstrip(b"\n") for _, raw in iter_lines(path)]
        got = [raw for block in iter_blocks(path, block_bytes=4096) for raw in block.rows]
        assert got == expected


def test_blank_lines_crlf_and_error_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": 1}\r\n\n   \n\r\n{"a": 2}\n\t\n{"a": 3}')  # no final newline
    blocks = list(iter_blocks(path, block_bytes=5))
    rows = [raw for b in blocks for raw in b.rows]
    assert rows == [b'{"a": 1}\r', b'{"a": 2}', b'{"a": 3}']
    assert [r for b in blocks for r in b.parse()] == [{"a": 1}, {"a": 2}, {"a": 3}]
    assert len(rows) == sum(1 for _ in iter_lines(path))

    path.write_bytes(b'{"a": 1}\n\n{"a": 2}\n\n\n{"a": \n{"a": 4}\n')
    with pytest.raises(DataError, match=r"x\.jsonl:6: malformed JSON"):
        for block in iter_blocks(path, block_bytes=7):
            block.parse()
    path.write_bytes(b'{"a": 1}\n[1]\n')
    with pytest.raises(DataError, match=r"x\.jsonl:2: expected a JSON object"):
        for block in iter_blocks(path):
            block.parse()


def test_leaving_early_and_corrupt_input(tmp_path: Path) -> None:
    """Leaving the reader early closes the file cleanly, and a decoding error names the shard."""
    shard = SPAM / "train" / "part_01.jsonl.zst"
    blocks = iter_blocks(shard, block_bytes=4096)
    first = next(blocks)
    blocks.close()
    assert (
        first.rows
        == [raw for block in iter_blocks(shard, block_bytes=4096) for raw in block.rows][: len(first.rows)]
    )
    broken = tmp_path / "broken.jsonl.zst"
    data = shard.read_bytes()
    middle = len(data) // 2
    broken.write_bytes(
        data[:middle] + bytes(b ^ 0x5A for b in data[middle : middle + 64]) + data[middle + 64 :]
    )
    with pytest.raises(DataError, match="broken.jsonl.zst.*cannot decompress"):
        for _ in iter_blocks(broken, block_bytes=4096):
            pass


def test_check_and_field_values_name_the_bad_line(tmp_path: Path) -> None:
    """The scan's checks keep no parsed rows, yet fail exactly as :meth:`Block.parse` does."""
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"label": "a"}\n\n{"label": 2}\n{"other": 1}\n')
    (block,) = iter_blocks(path)
    block.check()
    assert block.field_values("label") == ["a", 2, None]
    assert block.field_values("label", missing="?") == ["a", 2, "?"]
    for bad, message in (
        (b'{"label": "a"}\n\n{"label": \n', r"x\.jsonl:3: malformed JSON"),
        (b'{"label": "a"}\n\n["a"]\n', r"x\.jsonl:3: expected a JSON object"),
        (b'{"label": "a"}\n"a"\n', r"x\.jsonl:2: expected a JSON object"),
        (b'{"label": "\xff"}\n', r"x\.jsonl:1: malformed JSON"),
    ):
        path.write_bytes(bad)
        (block,) = iter_blocks(path)
        with pytest.raises(DataError, match=message):
            block.check()
        with pytest.raises(DataError, match=message):
            block.field_values("label")
