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

from bonepick.data.expressions import label_to_str
from bonepick.data.jq_fields import ProjectedExpression
from bonepick.data.selection import KEY_CHUNK, KeyStream, Spill, Threshold, read_spill
from bonepick.errors import DataError
from bonepick.io.blocks import Block, iter_blocks, select, write_rows_raw
from bonepick.io.jsonl import ShardWriter
from bonepick.io.spans import RowReader
from bonepick.pipeline import ShardStats, ShardTask, Step

BYTES_OUT = "bytes_out"  # stats.extra key: bytes of the lines written


@dataclass
class ScanResult:
    """What pass 1 learned about one shard."""

    rows: int = 0
    bytes: int = 0
    labels: list[str] = field(default_factory=list)  # label of each code, in code order
    label_counts: list[int] = field(default_factory=list)
    #: every physical line is a row (no blank line), so pass 2 can read rows by their sizes
    clean: bool = True


def spill_paths(root: Path, task: ShardTask) -> tuple[Path, Path]:
    return root / f"{task.index:06d}.sizes", root / f"{task.index:06d}.labels"


class ScanStep(Step):
    """Pass 1: check every row, spill line sizes (and label codes), count rows and labels."""

    name = "scan"
    resumable = False

    def __init__(self, spill_root: Path, label_expression: str | None = None) -> None:
        self.spill_root = Path(spill_root)
        self.label_expression = ProjectedExpression(label_expression) if label_expression else None

    def run(self, task: ShardTask, stats: ShardStats) -> ScanResult:
        sizes_path, labels_path = spill_paths(self.spill_root, task)
        sizes = Spill(sizes_path)
        labels = Spill(labels_path) if self.label_expression is not None else None
        codes: dict[str, int] = {}
        counts: Counter[int] = Counter()
        result = ScanResult()
        try:
            for block in iter_blocks(task.input):
                block_labels: list[str] = []
                if labels is not None:
                    block_labels = self._labels(block)  # every row checked on the way
                else:
                    block.check()
                block_sizes = np.fromiter(map(len, block.rows), dtype=np.int64, count=len(block.rows)) + 1
                sizes.extend(block_sizes)
                nbytes = int(block_sizes.sum())
                stats.read(len(block.rows), nbytes)
                if len(block.rows) != len(block.lines):
                    result.clean = False
                result.rows += len(block.rows)
                result.bytes += nbytes
                if labels is not None:
                    # a code per distinct label (first-seen order), then a C-level lookup per row
                    coded = {
                        label: codes.setdefault(label, len(codes)) for label in dict.fromkeys(block_labels)
                    }
                    block_codes = list(map(coded.__getitem__, block_labels))
                    labels.extend(block_codes)
                    counts.update(block_codes)
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

    def _labels(self, block: Block) -> list[str]:
        """Every row's label (checking every row, like :meth:`Block.check`)."""
        expression = self.label_expression
        assert expression is not None
        key = expression.field
        if key is not None:  # the common `-l .label`: no per-row call, no parsed rows kept
            values = block.field_values(key)
            try:
                distinct = set(values)
            except TypeError:  # a list or dict label: the general path below names the row
                distinct = {None}
            if all(type(v) is str for v in distinct):
                return values
        parsed = block.parse()
        batch = expression.all_batch(parsed)  # one jq run per distinct input (see jq_fields)
        if batch is not None and all(batch):
            firsts = [values[0] for values in batch]
            if all(type(v) is str for v in firsts):
                return firsts
        out = []
        for index, row in enumerate(parsed):
            try:
                value = expression.first(row)
            except DataError:
                expression.first(row, block.path, block.line_number(index))  # raises, naming the line
                raise
            if isinstance(value, dict | list):
                raise DataError(
                    f"label expression '{expression.source}' gave a "
                    f"{type(value).__name__}; balancing needs one label per row",
                    block.path,
                    block.line_number(index),
                )
            out.append(value if isinstance(value, str) else label_to_str(value))
        return out


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
    #: the row sizes of a clean shard (see :mod:`bonepick.io.spans`): rows are then cut out by
    #: offset instead of splitting lines
    sizes_spill: Path | None = None


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
        with ShardWriter(task.output, level=self.compression_level) as writer:
            if plan.thresholds is None:
                written = 0
                for block in iter_blocks(task.input):
                    block.check()  # every row checked, written as it is
                    nbytes = write_rows_raw(writer, block.rows, block)
                    written += nbytes
                    stats.read(len(block.rows), nbytes)
                    stats.wrote(len(block.rows))
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

        def keep_mask(seen: int, count: int) -> np.ndarray:
            keys = stream.next(count)
            if codes is not None:
                if seen + count > len(codes):
                    raise DataError("the shard changed while it was being processed", task.input)
                group = np.asarray(codes[seen : seen + count], dtype=np.int64)
                tk, ts, tr = thr_key[group], thr_shard[group], thr_row[group]
            else:
                tk, ts, tr = thr_key[0], thr_shard[0], thr_row[0]
            index = np.arange(seen, seen + count)
            return (keys < tk) | ((keys == tk) & ((shard < ts) | ((shard == ts) & (index <= tr))))

        seen = 0
        if plan.sizes_spill is not None:
            sizes = read_spill(plan.sizes_spill)
            if plan.expected_rows is not None and len(sizes) != plan.expected_rows:
                raise DataError("the shard changed while it was being processed", task.input)
            with RowReader(task.input, sizes) as reader:
                for run in reader.runs():
                    count = len(run)
                    stats.read(count, len(run.data))
                    data, kept = run.take(keep_mask(seen, count))
                    if kept:
                        writer.write_block(data, kept)
                    self._count(stats, count, kept, len(data))
                    seen += count
            return
        for block in iter_blocks(task.input):
            rows = block.rows
            count = len(rows)
            if not count:
                continue
            stats.read(count, sum(map(len, rows)) + count)
            chosen = select(rows, keep_mask(seen, count).tolist())
            self._count(stats, count, len(chosen), write_rows_raw(writer, chosen))
            seen += count
        if plan.expected_rows is not None and seen != plan.expected_rows:
            raise DataError("the shard changed while it was being processed", task.input)

    def _count(self, stats: ShardStats, count: int, kept: int, nbytes: int) -> None:
        stats.add(BYTES_OUT, nbytes)
        stats.wrote(kept)
        if count - kept:
            stats.skip(self.skip_reason, count - kept)
