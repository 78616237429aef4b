"""Seeded, exact, process-count-independent row selection without holding the corpus in memory.

Every row gets a random key from a stream seeded by the run's seed and the shard's identity, so
a row's key depends on nothing but (seed, shard, row number). Selecting "the k rows with the
smallest keys" (or "the longest key-ordered prefix that fits a byte budget") is a uniform
random sample of exactly that budget. The global cut-off is a :class:`Threshold`, found from
two cheap sweeps over the keys (a histogram, then the boundary bucket); workers then decide
each row locally by comparing its key with the threshold of its group. Ties between equal keys
are broken by (shard, row), so the selection is a strict total order.

Groups let one run select per label (balance) or per split.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

KEY_CHUNK = 1 << 16


def _entropy(seed: int, shard_id: str) -> list[int]:
    digest = hashlib.blake2b(shard_id.encode("utf-8"), digest_size=16).digest()
    return [seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF, *np.frombuffer(digest, dtype="<u4").tolist()]


class KeyStream:
    """The keys of a shard's rows, in row order, drawn in chunks (same values however chunked)."""

    def __init__(self, seed: int, shard_id: str) -> None:
        self._generator = np.random.Generator(
            np.random.PCG64(np.random.SeedSequence(_entropy(seed, shard_id)))
        )

    def next(self, count: int) -> np.ndarray:
        return self._generator.random(count)


def shard_keys(seed: int, shard_id: str, count: int) -> Iterator[tuple[int, np.ndarray]]:
    """(first row index, keys) chunks covering ``count`` rows."""
    stream = KeyStream(seed, shard_id)
    for start in range(0, count, KEY_CHUNK):
        yield start, stream.next(min(KEY_CHUNK, count - start))


@dataclass(frozen=True)
class Threshold:
    """Rows with (key, shard, row) <= (key, shard, row) of the threshold are selected."""

    key: float
    shard: int = 1 << 62
    row: int = 1 << 62

    @classmethod
    def everything(cls) -> Threshold:
        return cls(2.0)

    @classmethod
    def nothing(cls) -> Threshold:
        return cls(-1.0)

    def mask(self, keys: np.ndarray, shard: int, first_row: int) -> np.ndarray:
        """Which of ``keys`` (rows ``first_row``.. of ``shard``) are selected."""
        below = keys < self.key
        if shard < self.shard:
            return below | (keys == self.key)
        if shard > self.shard:
            return below
        rows = np.arange(first_row, first_row + len(keys))
        return below | ((keys == self.key) & (rows <= self.row))


#: one shard's contribution to a sweep: shard index, first row index, keys, groups, weights
Chunk = tuple[int, int, np.ndarray, np.ndarray, np.ndarray]


def _bucket_count(num_groups: int) -> int:
    size = 1 << 16
    while size > 64 and size * num_groups > (1 << 22):
        size >>= 1
    return size


def find_thresholds(
    sweep: Callable[[], Iterable[Chunk]], budgets: Iterable[float], num_groups: int
) -> list[Threshold]:
    """Per group, the threshold of the longest key-ordered prefix whose summed weight fits the
    group's budget (with unit weights: exactly ``budget`` rows, or all of them when fewer).

    ``sweep`` is called twice and must yield the same chunks both times.
    """
    budget = np.asarray(list(budgets), dtype=np.float64)
    assert len(budget) == num_groups
    buckets = _bucket_count(num_groups)
    hist = np.zeros(num_groups * buckets, dtype=np.float64)
    for _shard, _first, keys, groups, weights in sweep():
        index = groups.astype(np.int64) * buckets + (keys * buckets).astype(np.int64)
        hist += np.bincount(index, weights=weights, minlength=len(hist))
    hist = hist.reshape(num_groups, buckets)
    cumulative = np.cumsum(hist, axis=1)
    thresholds: list[Threshold | None] = [None] * num_groups
    boundary = np.full(num_groups, -1, dtype=np.int64)
    before = np.zeros(num_groups)
    for group in range(num_groups):
        over = np.nonzero(cumulative[group] > budget[group] + 1e-9)[0]
        if len(over) == 0:
            thresholds[group] = Threshold.everything()
            continue
        boundary[group] = int(over[0])
        before[group] = cumulative[group][over[0] - 1] if over[0] > 0 else 0.0
    if (boundary >= 0).any():
        found: dict[int, list[np.ndarray]] = {}
        for shard, first, keys, groups, weights in sweep():
            bucket = (keys * buckets).astype(np.int64)
            hit = np.nonzero(bucket == boundary[groups])[0]
            if len(hit):
                for group in np.unique(groups[hit]).tolist():
                    sel = hit[groups[hit] == group]
                    found.setdefault(group, []).append(
                        np.stack(
                            [
                                keys[sel],
                                np.full(len(sel), float(shard)),
                                (first + sel).astype(np.float64),
                                weights[sel],
                            ],
                            axis=1,
                        )
                    )
        for group in np.nonzero(boundary >= 0)[0].tolist():
            rows = np.concatenate(found[group]) if group in found else np.zeros((0, 4))
            order = np.lexsort((rows[:, 2], rows[:, 1], rows[:, 0]))
            rows = rows[order]
            taken = before[group] + np.cumsum(rows[:, 3])
            # weights are positive, so the rows that fit are a prefix of the key order
            count = int(np.count_nonzero(taken <= budget[group] + 1e-9))
            if count == 0:
                thresholds[group] = Threshold(float(boundary[group]) / buckets, -1, -1)
            else:
                key, shard, row, _ = rows[count - 1]
                thresholds[group] = Threshold(float(key), int(shard), int(row))
    return [t if t is not None else Threshold.nothing() for t in thresholds]


class Spill:
    """A per-shard column of unsigned 32-bit integers on disk, written in chunks (row sizes,
    label codes), so a first pass can hand per-row facts to the second without memory growth."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "wb")  # noqa: SIM115
        self._buffer: list[int] = []

    def append(self, value: int) -> None:
        self._buffer.append(value)
        if len(self._buffer) >= KEY_CHUNK:
            self._flush()

    def extend(self, values: list[int] | np.ndarray) -> None:
        self._flush()
        self._file.write(np.asarray(values, dtype="<u4").tobytes())  # tofile() flushes every call

    def _flush(self) -> None:
        if self._buffer:
            self._file.write(np.asarray(self._buffer, dtype="<u4").tobytes())
            self._buffer.clear()

    def close(self) -> None:
        self._flush()
        self._file.close()

    def abort(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)


def read_spill(path: Path) -> np.ndarray:
    """A spill column as a read-only memory map (an empty array for an empty file)."""
    path = Path(path)
    if path.stat().st_size == 0:
        return np.zeros(0, dtype="<u4")
    return np.memmap(path, dtype="<u4", mode="r")
