"""Reading rows by their measured sizes must give exactly the rows the line reader gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bonepick.errors import DataError
from bonepick.io import read_rows, write_rows
from bonepick.io.blocks import iter_blocks
from bonepick.io.spans import RowReader
from tests.conftest import SPAM


def _sizes(path: Path) -> np.ndarray:
    return np.array([len(raw) + 1 for block in iter_blocks(path) for raw in block.rows], dtype=np.uint32)


def test_runs_tile_the_shard_and_take_cuts_rows(tmp_path: Path) -> None:
    path = SPAM / "train" / "part_00.jsonl.zst"
    rows = [raw for block in iter_blocks(path) for raw in block.rows]
    sizes = _sizes(path)
    with RowReader(path, sizes, block_bytes=50_000) as reader:
        runs = list(reader.runs())
    assert len(runs) > 3  # cut into several runs, each at least one row
    assert b"".join(r.data for r in runs) == b"".join(raw + b"\n" for raw in rows)
    assert [r.first_row for r in runs] == list(np.cumsum([0] + [len(r) for r in runs[:-1]]))
    rng = np.random.default_rng(0)
    for run in runs:
        keep = rng.random(len(run)) < 0.4
        data, count = run.take(keep)
        chosen = [rows[run.first_row + i] for i in np.flatnonzero(keep)]
        assert count == len(chosen)
        assert data == b"".join(raw + b"\n" for raw in chosen)
    assert runs[0].take(np.ones(len(runs[0]), dtype=bool)) == (runs[0].data, len(runs[0]))
    assert runs[0].take(np.zeros(len(runs[0]), dtype=bool)) == (b"", 0)


def test_stop_row_last_line_without_newline_and_changed_shard(tmp_path: Path) -> None:
    rows = list(read_rows(SPAM / "test" / "part_00.jsonl.zst"))[:30]
    path = tmp_path / "a.jsonl.zst"
    write_rows(path, rows)
    plain = tmp_path / "b.jsonl"
    plain.write_bytes(b"".join(__import__("orjson").dumps(r) + b"\n" for r in rows).rstrip(b"\n"))
    for shard in (path, plain):
        sizes = _sizes(shard)
        with RowReader(shard, sizes, block_bytes=2_000) as reader:
            head = b"".join(r.data for r in reader.runs(10))
            rest = b"".join(r.data for r in reader.runs())
        lines = (head + rest).split(b"\n")
        assert len(lines) == 31 and lines[-1] == b""  # every row ends in a newline, the last too
        assert head.count(b"\n") == 10
    sizes = _sizes(path)
    sizes[3] += 1  # the shard no longer matches what the first pass measured
    with (
        pytest.raises(DataError, match="changed while it was being processed"),
        RowReader(path, sizes) as reader,
    ):
        list(reader.runs())
