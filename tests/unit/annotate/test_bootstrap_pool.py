"""The bootstrap pool: a seeded, bounded selection that does not depend on how the input is sharded."""

from __future__ import annotations

from pathlib import Path

import pytest

from bonepick.annotate.bootstrap import BootstrapConfig, load_pool, pool_size
from bonepick.errors import UsageError
from bonepick.io import read_rows, write_rows
from tests.conftest import BROWN


def _config(inputs: list[Path], tmp_path: Path, **kw) -> BootstrapConfig:
    sizes = {"test_size": 20, "initial_size": 30, "increment": 10, "max_iters": 3, **kw}
    return BootstrapConfig(
        inputs=inputs, output_dir=tmp_path / "out", classes=["a", "b"], description="x", **sizes
    )


def _brown_rows() -> list[dict]:
    return [r for p in sorted(BROWN.rglob("*.jsonl.zst")) for r in read_rows(p)]


def test_pool_is_bounded_seeded_and_independent_of_sharding(tmp_path: Path) -> None:
    rows = _brown_rows()
    write_rows(tmp_path / "one" / "train" / "all.jsonl.zst", rows)
    for i in range(3):  # the same rows in another order and in three shards
        write_rows(tmp_path / "three" / "train" / f"s{i}.jsonl", rows[::-1][i::3])

    config = _config([tmp_path / "one"], tmp_path)
    pool = load_pool(config)
    assert len(pool) == pool_size(config) == 20 + 30 + 2 * 10 < len(rows)
    assert pool == load_pool(_config([tmp_path / "three"], tmp_path))
    assert pool != load_pool(_config([tmp_path / "one"], tmp_path, seed=1))
    assert len({doc["id"] for doc in pool}) == len(pool)
    by_id = {str(r["id"]): r["text"] for r in rows}
    assert all(by_id[doc["id"]] == doc["text"] for doc in pool)

    # uncertainty sampling looks at a wider window for the last selection
    assert pool_size(_config([], tmp_path, balance=True)) == 70 + 3 * 10


def test_duplicate_ids_in_the_pool_are_an_error(tmp_path: Path) -> None:
    rows = _brown_rows()[:40]
    write_rows(tmp_path / "d" / "train" / "a.jsonl", rows + rows[:1])
    with pytest.raises(UsageError, match="appears twice"):
        load_pool(_config([tmp_path / "d"], tmp_path, test_size=35, initial_size=6, max_iters=1))
