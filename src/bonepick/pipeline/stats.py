"""Row counters a step fills in for each shard; summed by the executor."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bonepick.pipeline import progress


@dataclass
class ShardStats:
    """What happened to one shard: rows read and written, rows skipped by reason, bytes read."""

    rows_in: int = 0
    rows_out: int = 0
    bytes_in: int = 0
    skipped: Counter = field(default_factory=Counter)
    extra: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def read(self, rows: int = 1, nbytes: int = 0) -> None:
        """Count rows read; also feeds the live progress bar."""
        self.rows_in += rows
        self.bytes_in += nbytes
        progress.report_rows(rows, nbytes)

    def wrote(self, rows: int = 1) -> None:
        self.rows_out += rows

    def skip(self, reason: str, rows: int = 1) -> None:
        """Count rows deliberately left out, with the reason (never drop rows silently)."""
        self.skipped[reason] += rows

    def add(self, key: str, value: float) -> None:
        self.extra[key] = self.extra.get(key, 0) + value

    def merge(self, other: ShardStats) -> None:
        self.rows_in += other.rows_in
        self.rows_out += other.rows_out
        self.bytes_in += other.bytes_in
        self.skipped.update(other.skipped)
        for key, value in other.extra.items():
            self.add(key, value)
        self.seconds += other.seconds

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "bytes_in": self.bytes_in,
            "skipped": dict(sorted(self.skipped.items())),
            "extra": dict(sorted(self.extra.items())),
            "seconds": round(self.seconds, 3),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ShardStats:
        return cls(
            rows_in=int(data.get("rows_in", 0)),
            rows_out=int(data.get("rows_out", 0)),
            bytes_in=int(data.get("bytes_in", 0)),
            skipped=Counter(data.get("skipped", {})),
            extra=dict(data.get("extra", {})),
            seconds=float(data.get("seconds", 0.0)),
        )


class Timer:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start
