"""The two passes of the selecting stages (balance, sample).

Pass 1, :class:`ScanStep`, reads every shard in parallel, checks every row (a malformed line
fails with file:line), and spills per-row facts to small files: the line's byte size and, when a
label expression is given, the row's label code. The caller then decides globally (see
:mod:`bonepick.data.selection`). Pass 2, :class:`KeepStep`, re-reads each shard and writes the
selected rows as their original bytes, deciding row by row from the spilled facts, the row's
seeded key and the thresholds, so the output does not depend on how many processes ran.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bonepick.data.expressions import Expression, label_to_str
from bonepick.data.selection import KEY_CHUNK, KeyStream, Spill, Threshold, read_spill
from bonepick.errors import DataError
from bonepick.io.jsonl import ShardWriter, iter_lines, parse_line
from bonepick.pipeline import ShardStats, ShardTask, Step

BYTES_OUT = "bytes_out"  # stats.extra key: bytes of the lines written
BATCH_ROWS = 2048  # rows held at once in pass 2 (bounded memory, vectorised decisions)


@dataclass
class ScanResult:
    """What pass 1 learned about one shard."""

    rows: int = 0
    bytes: int = 0
    labels: list[str] = field(default_factory=list)  # label of each code, in code order
    label_counts: list[int] = field(default_factory=list)


def spill_paths(root: Path, task: ShardTask) -> tuple[Path, Path]:
    return root / f"{task.index:06d}.sizes", root / f"{task.index:06d}.labels"


class ScanStep(Step):
    """Pass 1: check every row, spill line sizes (and label codes), count rows and labels."""

    name = "scan"
    resumable = False

    def __init__(self, spill_root: Path, label_expression: str | None = None) -> None:
        self.spill_root = Path(spill_root)
        self.label_expression = Expression(label_expression) if label_expression else None

    def run(self, task: ShardTask, stats: ShardStats) -> ScanResult:
        sizes_path, labels_path = spill_paths(self.spill_root, task)
        sizes = Spill(sizes_path)
        labels = Spill(labels_path) if self.label_expression is not None else None
        codes: dict[str, int] = {}
        counts: Counter[int] = Counter()
        result = ScanResult()
        path = task.input
        try:
            for number, raw in iter_lines(path):
                size = len(raw) if raw.endswith(b"\n") else len(raw) + 1
                stats.read(1, size)
                row = parse_line(raw, path, number)
                sizes.append(size)
                result.rows += 1
                result.bytes += size
                if labels is not None:
                    assert self.label_expression is not None
                    value = self.label_expression.first(row, path, number)
                    if isinstance(value, dict | list):
                        raise DataError(
                            f"label expression '{self.label_expression.source}' gave a "
                            f"{type(value).__name__}; balancing needs one label per row",
                            path,
                            number,
                        )
                    label = label_to_str(value)
                    code = codes.setdefault(label, len(codes))
                    labels.append(code)
                    counts[code] += 1
        except BaseException:
            sizes.abort()
            if labels is not None:
                labels.abort()
            raise
        sizes.close()
        if labels is not None:
            labels.close()
        result.labels = list(codes)
        result.label_counts = [counts[i] for i in range(len(codes))]
        return result


def sweep_chunks(
    seed: int, tasks: Iterable[ShardTask], rows: dict[int, int], groups_of: Any = None, weights_of: Any = None
) -> Iterator[tuple[int, int, np.ndarray, np.ndarray, np.ndarray]]:
    """The chunks :func:`bonepick.data.selection.find_thresholds` sweeps over: for each shard its
    keys, group per row (``groups_of(task)`` -> array, default all 0) and weight per row
    (``weights_of(task)`` -> array, default 1)."""
    for task in tasks:
        count = rows[task.index]
        if count == 0:
            continue
        groups = groups_of(task) if groups_of is not None else None
        weights = weights_of(task) if weights_of is not None else None
        stream = KeyStream(seed, task.key)
        for start in range(0, count, KEY_CHUNK):
            keys = stream.next(min(KEY_CHUNK, count - start))
            end = start + len(keys)
            chunk_groups = (
                np.asarray(groups[start:end], dtype=np.int64)
                if groups is not None
                else np.zeros(len(keys), dtype=np.int64)
            )
            chunk_weights = (
                np.asarray(weights[start:end], dtype=np.float64)
                if weights is not None
                else np.ones(len(keys))
            )
            yield task.index, start, keys, chunk_groups, chunk_weights


@dataclass
class KeepPlan:
    """How pass 2 decides one shard: ``None`` thresholds keep every row; otherwise row ``r`` with
    label code ``c`` is kept when its key is under ``thresholds[c]`` (or ``thresholds[0]`` when
    there are no label codes)."""

    thresholds: list[Threshold] | None = None
    labels_spill: Path | None = None
    expected_rows: int | None = None


class KeepStep(Step):
    """Pass 2: write the kept rows of each shard, byte for byte, in their original order."""

    name = "select"
    compression_level: int | None = None

    def __init__(self, seed: int, plans: dict[str, KeepPlan], skip_reason: str) -> None:
        self.seed = seed
        self.plans = plans
        self.skip_reason = skip_reason

    def run(self, task: ShardTask, stats: ShardStats) -> None:
        assert task.output is not None
        plan = self.plans.get(task.key, KeepPlan())
        path = task.input
        with ShardWriter(task.output, level=self.compression_level) as writer:
            if plan.thresholds is None:
                written = 0
                for number, raw in iter_lines(path):
                    stats.read(1, len(raw))
                    parse_line(raw, path, number)
                    line = raw if raw.endswith(b"\n") else raw + b"\n"
                    writer.write_line(line)
                    written += len(line)
                    stats.wrote()
                stats.add(BYTES_OUT, written)
                return
            self._select(task, plan, writer, stats)

    def _select(self, task: ShardTask, plan: KeepPlan, writer: ShardWriter, stats: ShardStats) -> None:
        assert plan.thresholds is not None
        thr_key = np.array([t.key for t in plan.thresholds], dtype=np.float64)
        thr_shard = np.array([t.shard for t in plan.thresholds], dtype=np.int64)
        thr_row = np.array([t.row for t in plan.thresholds], dtype=np.int64)
        codes = read_spill(plan.labels_spill) if plan.labels_spill is not None else None
        stream = KeyStream(self.seed, task.key)
        shard = task.index
        seen = 0
        batch: list[bytes] = []

        def flush() -> None:
            nonlocal seen
            if not batch:
                return
            keys = stream.next(len(batch))
            if codes is not None:
                if seen + len(batch) > len(codes):
                    raise DataError("the shard changed while it was being processed", task.input)
                group = np.asarray(codes[seen : seen + len(batch)], dtype=np.int64)
            else:
                group = np.zeros(len(batch), dtype=np.int64)
            tk, ts, tr = thr_key[group], thr_shard[group], thr_row[group]
            rows = np.arange(seen, seen + len(batch))
            keep = (keys < tk) | ((keys == tk) & ((shard < ts) | ((shard == ts) & (rows <= tr))))
            kept = kept_bytes = 0
            for raw, flag in zip(batch, keep.tolist(), strict=True):
                if flag:
                    line = raw if raw.endswith(b"\n") else raw + b"\n"
                    writer.write_line(line)
                    kept += 1
                    kept_bytes += len(line)
            stats.wrote(kept)
            stats.add(BYTES_OUT, kept_bytes)
            if len(batch) - kept:
                stats.skip(self.skip_reason, len(batch) - kept)
            seen += len(batch)
            batch.clear()

        for _number, raw in iter_lines(task.input):
            stats.read(1, len(raw))
            batch.append(raw)
            if len(batch) >= BATCH_ROWS:
                flush()
        flush()
        if plan.expected_rows is not None and seen != plan.expected_rows:
            raise DataError("the shard changed while it was being processed", task.input)
