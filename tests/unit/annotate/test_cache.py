"""The SQLite answer cache: keys, named migrations, WAL, several processes at once."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
from pathlib import Path

from bonepick.annotate.cache import MIGRATIONS, AnswerCache, cache_key, resolve_cache_path


def test_key_covers_model_prompt_params_text_and_sample():
    messages = [{"role": "user", "content": "text"}]
    base = cache_key("m", "p:1", {"temperature": 0}, messages, 0)
    assert base == cache_key("m", "p:1", {"temperature": 0}, [dict(m) for m in messages], 0)
    variants = [
        cache_key("m2", "p:1", {"temperature": 0}, messages, 0),
        cache_key("m", "p:2", {"temperature": 0}, messages, 0),
        cache_key("m", "p:1", {"temperature": 1}, messages, 0),
        cache_key("m", "p:1", {"temperature": 0}, [{"role": "user", "content": "text!"}], 0),
        cache_key("m", "p:1", {"temperature": 0}, messages, 1),
    ]
    assert len({base, *variants}) == 6


def test_migrations_are_named_and_applied_once(tmp_path: Path):
    path = tmp_path / "c.sqlite"
    with AnswerCache(path) as cache:
        cache.put("k", model="m", prompt="p", prompt_version="v", output={"score": 1}, prompt_tokens=3)
    with AnswerCache(path) as cache:
        assert cache.get("k").output == {"score": 1} and cache.get("k").prompt_tokens == 3
        assert cache.get("nope") is None
    with sqlite3.connect(path) as connection:
        names = [row[0] for row in connection.execute("SELECT name FROM migrations ORDER BY name")]
        assert names == [name for name, _ in MIGRATIONS]
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        source = connection.execute("SELECT source FROM answers").fetchone()[0]
        assert source == "live"


def test_buffered_writes_are_visible_before_flush_and_durable_after(tmp_path: Path):
    path = tmp_path / "c.sqlite"
    writer = AnswerCache(path, flush_interval=3600, flush_rows=10_000)
    writer.put("a", model="m", prompt="p", prompt_version="v", output={"x": 1})
    assert writer.contains("a")
    reader = AnswerCache(path)
    assert not reader.contains("a")
    writer.flush()
    assert reader.get("a").output == {"x": 1}
    writer.close()
    reader.close()


def _write_many(path: str, start: int) -> None:
    with AnswerCache(path, flush_rows=7) as cache:
        for i in range(start, start + 200):
            cache.put(f"k{i}", model="m", prompt="p", prompt_version="v", output={"i": i})


def test_several_processes_share_one_cache(tmp_path: Path):
    path = tmp_path / "shared.sqlite"
    AnswerCache(path).close()
    ctx = mp.get_context("spawn")
    processes = [ctx.Process(target=_write_many, args=(str(path), n * 200)) for n in range(3)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    with AnswerCache(path) as cache:
        assert cache.count() == 600
        assert cache.get("k599").output == {"i": 599}


def test_location_may_be_a_folder_or_a_file(tmp_path: Path):
    assert resolve_cache_path(tmp_path) == tmp_path / "annotations.sqlite"
    assert resolve_cache_path(tmp_path / "x.db") == tmp_path / "x.db"
    assert AnswerCache(None).get("k") is None
