"""Progress reporting that works across worker processes without the library printing anything.

The executor hands a :class:`ProgressSink` (the CLI passes a rich progress bar); steps call
:func:`report_rows` through :class:`~bonepick.pipeline.stats.ShardStats`, which reaches the sink
directly in-process or through a queue from worker processes.
"""

from __future__ import annotations

import time
from typing import Any, Protocol


class ProgressSink(Protocol):
    def start(self, description: str, total_shards: int) -> None: ...
    def rows(self, rows: int, nbytes: int) -> None: ...
    def shard_done(self, skipped: bool = False) -> None: ...
    def stop(self) -> None: ...


class NullProgress:
    def start(self, description: str, total_shards: int) -> None:
        pass

    def rows(self, rows: int, nbytes: int) -> None:
        pass

    def shard_done(self, skipped: bool = False) -> None:
        pass

    def stop(self) -> None:
        pass


class _Reporter:
    """Batches row counts and forwards them at most every ``interval`` seconds."""

    def __init__(self, target: Any, interval: float = 0.2) -> None:
        self.target = target  # a ProgressSink or a multiprocessing queue
        self.interval = interval
        self.rows = 0
        self.nbytes = 0
        self.last = time.monotonic()

    def add(self, rows: int, nbytes: int) -> None:
        self.rows += rows
        self.nbytes += nbytes
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.flush()
            self.last = now

    def flush(self) -> None:
        if not self.rows and not self.nbytes:
            return
        if hasattr(self.target, "put"):
            self.target.put((self.rows, self.nbytes))
        else:
            self.target.rows(self.rows, self.nbytes)
        self.rows = 0
        self.nbytes = 0


_reporter: _Reporter | None = None


def install(target: Any) -> None:
    """Route this process's row reports to a sink or a queue."""
    global _reporter
    _reporter = _Reporter(target) if target is not None else None


def report_rows(rows: int, nbytes: int = 0) -> None:
    if _reporter is not None:
        _reporter.add(rows, nbytes)


def flush() -> None:
    if _reporter is not None:
        _reporter.flush()
