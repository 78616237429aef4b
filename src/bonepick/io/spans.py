"""Reading a shard by row, when an earlier pass already measured every row.

The selecting stages (sample, balance, reshard) read every shard twice: a first pass checks
and measures every row, a second writes the chosen ones. In the second pass the row sizes are
known, so the shard is read as exact runs of whole rows (``stream.read(n)`` of their summed
sizes) and the chosen rows are cut out by offset: no newline search, no list of a million
small ``bytes``, and the bytes written are the bytes read.

This holds only for a *clean* shard, where every physical line is a row (no blank line): then
the row sizes (newline included) tile the decompressed bytes, the last row perhaps without its
newline. :class:`bonepick.data.scan.ScanStep` records whether a shard is clean.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bonepick.errors import DataError
from bonepick.io.blocks import BLOCK_BYTES
from bonepick.io.jsonl import open_binary_reader, reading_errors

#: rows of the size column looked at in one go (bounds the memory of the offsets)
SIZE_CHUNK = 1 << 16


@dataclass
class RowRun:
    """Consecutive rows ``first_row``.. of a shard: ``data`` holds them all, newlines included;
    row ``i`` is ``data[ends[i] - sizes[i]:ends[i]]``."""

    first_row: int
    data: bytes
    ends: np.ndarray  # int64, exclusive end offset of each row in data

    def __len__(self) -> int:
        return len(self.ends)

    def starts(self) -> np.ndarray:
        out = np.empty_like(self.ends)
        out[0] = 0
        out[1:] = self.ends[:-1]
        return out

    def take(self, keep: np.ndarray) -> tuple[bytes, int]:
        """The kept rows' bytes (in order) and their count; ``keep`` is a boolean per row."""
        count = int(np.count_nonzero(keep))
        if count == len(keep):
            return self.data, count
        if count == 0:
            return b"", 0
        # runs of consecutive kept rows become single slices
        flags = np.concatenate(([False], keep, [False]))
        edges = np.flatnonzero(flags[1:] != flags[:-1])
        run_starts, run_stops = edges[0::2], edges[1::2]
        starts = self.starts()
        lo = starts[run_starts].tolist()
        hi = self.ends[run_stops - 1].tolist()
        view = memoryview(self.data)
        return b"".join([view[a:b] for a, b in zip(lo, hi, strict=True)]), count

    def slice(self, start: int, stop: int) -> bytes:
        """Bytes of rows ``start``..``stop`` (indices within this run)."""
        if start >= stop:
            return b""
        lo = int(self.ends[start - 1]) if start else 0
        return self.data[lo : int(self.ends[stop - 1])]


class RowReader:
    """Reads a clean shard front to back as :class:`RowRun` s of about ``BLOCK_BYTES``, from
    its row sizes (``sizes[i]`` = bytes of row ``i`` with its newline)."""

    def __init__(self, path: str | Path, sizes: np.ndarray, block_bytes: int = BLOCK_BYTES) -> None:
        self.path = Path(path)
        self.sizes = sizes
        self.block_bytes = block_bytes
        self.row = 0
        self._stack = ExitStack()
        self._stream = None

    def __enter__(self) -> RowReader:
        self._stack.enter_context(reading_errors(self.path))
        self._stream = self._stack.enter_context(open_binary_reader(self.path))
        return self

    def __exit__(self, *exc: object) -> bool | None:
        return self._stack.__exit__(*exc)

    def runs(self, stop_row: int | None = None) -> Iterator[RowRun]:
        """Runs covering rows ``self.row``..``stop_row`` (default: the end of the shard)."""
        assert self._stream is not None, "use RowReader as a context manager"
        total = len(self.sizes)
        stop_row = total if stop_row is None else min(stop_row, total)
        while self.row < stop_row:
            chunk_stop = min(stop_row, self.row + SIZE_CHUNK)
            ends = np.cumsum(np.asarray(self.sizes[self.row : chunk_stop], dtype=np.int64))
            # cut the chunk into runs of about block_bytes (at least one row each)
            cuts = np.searchsorted(
                ends, np.arange(self.block_bytes, int(ends[-1]), self.block_bytes), "right"
            )
            bounds = [0, *sorted(set(cuts.tolist()) - {0, len(ends)}), len(ends)]
            planned = []
            for a, b in zip(bounds, bounds[1:], strict=False):
                base = int(ends[a - 1]) if a else 0
                planned.append((self.row + a, ends[a:b] - base))
            for first_row, run_ends in planned:
                yield self._checked(first_row, run_ends, self._stream.read(int(run_ends[-1])))
            self.row = chunk_stop

    def _checked(self, first_row: int, ends: np.ndarray, data: bytes) -> RowRun:
        assert self._stream is not None
        want = int(ends[-1])
        if len(data) == want - 1 and first_row + len(ends) == len(self.sizes) and not self._stream.read(1):
            data += b"\n"  # the shard's last line has no newline; written rows always end in one
        if len(data) != want or not bool((np.frombuffer(data, dtype=np.uint8)[ends - 1] == 10).all()):
            raise DataError("the shard changed while it was being processed", self.path)
        return RowRun(first_row, data, ends)
