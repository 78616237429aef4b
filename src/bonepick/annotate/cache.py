"""The SQLite cache of validated LLM answers, so an interrupted or repeated run never pays twice.

One row per request, keyed by a hash of the model, the prompt's fingerprint, the request parameters
and the exact text sent (plus the sample index). Only answers that passed schema validation are
stored; failures are not, so they are retried next time. The database runs in WAL mode so several
worker processes can read and write it at once; the schema evolves through named migrations,
recorded in the ``migrations`` table and applied in order on open.

Writes are buffered and committed every ``flush_interval`` seconds or ``flush_rows`` answers, and
on close: a crash loses at most that window of answers, never corrupts the file.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

CACHE_FILE = "annotations.sqlite"

#: (name, SQL) pairs applied in order; never edit an applied one, append a new one instead
MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "0001_create_answers",
        """
        CREATE TABLE answers (
            key TEXT PRIMARY KEY,
            model TEXT NOT NULL,
            prompt TEXT NOT NULL,
            prompt_version TEXT NOT NULL,
            output TEXT NOT NULL,
            raw TEXT,
            prompt_tokens INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL
        )
        """,
    ),
    ("0002_index_prompt_model", "CREATE INDEX answers_prompt_model ON answers (prompt, model)"),
    ("0003_answer_source", "ALTER TABLE answers ADD COLUMN source TEXT NOT NULL DEFAULT 'live'"),
)


@dataclass(frozen=True)
class CachedAnswer:
    output: dict[str, Any]
    prompt_tokens: int = 0
    completion_tokens: int = 0


def cache_key(
    model: str, prompt_version: str, params: Mapping[str, Any], messages: Any, sample: int = 0
) -> str:
    """The content hash that identifies one request's answer."""
    payload = {
        "model": model,
        "prompt": prompt_version,
        "params": dict(params),
        "messages": messages,
        "sample": sample,
    }
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


def resolve_cache_path(location: str | Path | None) -> Path:
    """``-c`` may name a folder (the cache file goes inside) or a ``.sqlite``/``.db`` file."""
    if location is None:
        from bonepick.paths import cache_dir

        return cache_dir() / "annotate" / CACHE_FILE
    path = Path(location).expanduser()
    if path.suffix in (".sqlite", ".sqlite3", ".db"):
        return path
    return path / CACHE_FILE


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA busy_timeout = 60000")
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    return connection


def migrate(connection: sqlite3.Connection) -> list[str]:
    """Apply the migrations not yet recorded; returns their names. Safe with concurrent openers."""
    connection.execute(
        "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)"
    )
    applied_now = []
    connection.execute("BEGIN IMMEDIATE")
    try:
        done = {row[0] for row in connection.execute("SELECT name FROM migrations")}
        for name, sql in MIGRATIONS:
            if name in done:
                continue
            connection.execute(sql)
            connection.execute("INSERT INTO migrations (name, applied_at) VALUES (?, ?)", (name, time.time()))
            applied_now.append(name)
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return applied_now


class AnswerCache:
    """Read-through store of validated answers. ``path=None`` gives a cache that remembers nothing."""

    def __init__(
        self, path: str | Path | None, *, flush_interval: float = 0.2, flush_rows: int = 256
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.flush_interval = flush_interval
        self.flush_rows = flush_rows
        self._pending: dict[str, tuple[Any, ...]] = {}
        self._last_flush = time.monotonic()
        self._connection: sqlite3.Connection | None = None
        if self.path is not None:
            self._connection = _connect(self.path)
            migrate(self._connection)

    @property
    def enabled(self) -> bool:
        return self._connection is not None

    def get(self, key: str) -> CachedAnswer | None:
        if self._connection is None:
            return None
        pending = self._pending.get(key)
        if pending is not None:
            return CachedAnswer(orjson.loads(pending[4]), pending[6], pending[7])
        row = self._connection.execute(
            "SELECT output, prompt_tokens, completion_tokens FROM answers WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        return CachedAnswer(orjson.loads(row[0]), int(row[1]), int(row[2]))

    def contains(self, key: str) -> bool:
        if self._connection is None:
            return False
        if key in self._pending:
            return True
        return self._connection.execute("SELECT 1 FROM answers WHERE key = ?", (key,)).fetchone() is not None

    def put(
        self,
        key: str,
        *,
        model: str,
        prompt: str,
        prompt_version: str,
        output: dict[str, Any],
        raw: str | None = None,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        source: str = "live",
    ) -> None:
        if self._connection is None:
            return
        self._pending[key] = (
            key,
            model,
            prompt,
            prompt_version,
            orjson.dumps(output).decode(),
            raw,
            int(prompt_tokens),
            int(completion_tokens),
            time.time(),
            source,
        )
        if (
            len(self._pending) >= self.flush_rows
            or time.monotonic() - self._last_flush >= self.flush_interval
        ):
            self.flush()

    def flush(self) -> None:
        self._last_flush = time.monotonic()
        if self._connection is None or not self._pending:
            return
        rows, self._pending = list(self._pending.values()), {}
        with self._connection:
            self._connection.execute("BEGIN")
            self._connection.executemany(
                "INSERT OR REPLACE INTO answers (key, model, prompt, prompt_version, output, raw, "
                "prompt_tokens, completion_tokens, created_at, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def count(self) -> int:
        if self._connection is None:
            return 0
        self.flush()
        return int(self._connection.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def close(self) -> None:
        if self._connection is not None:
            try:
                self.flush()
            finally:
                self._connection.close()
                self._connection = None

    def __enter__(self) -> AnswerCache:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
