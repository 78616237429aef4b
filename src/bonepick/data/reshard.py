"""Resharding: N output files of near-equal size per split, optionally cutting new splits.

Pass 1 (parallel) checks every row and spills its byte size. The parent then decides, without
reading any text, where each row goes: its split (new test/valid rows are the ones with the
smallest seeded keys, exact counts) and its file (rows of a split keep their order and are cut
into ``num_files`` contiguous runs of near-equal uncompressed bytes; a row belongs to the file
its middle byte falls in). Pass 2 runs one task per input shard in which some output file
starts; the task reads forward from there until its files are complete and writes them
directly, so every input byte is decoded at most about twice and nothing is held in memory.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import compress
from pathlib import Path
from typing import Any

import numpy as np

from bonepick.data.scan import ScanResult, ScanStep, spill_paths
from bonepick.data.selection import KEY_CHUNK, KeyStream, Threshold, find_thresholds, read_spill
from bonepick.data.sizes import amount_to_rows
from bonepick.errors import DataError, UsageError
from bonepick.io.blocks import iter_blocks
from bonepick.io.dataset import SPLIT_NAMES, discover_datasets
from bonepick.io.jsonl import ShardWriter
from bonepick.io.shards import OUTPUT_SUFFIX
from bonepick.io.spans import RowReader, RowRun
from bonepick.pipeline import LocalExecutor, ProgressSink, RunSummary, ShardStats, ShardTask, Step
from bonepick.pipeline.executor import STATE_DIR

SPLIT_CODES = {"train": 0, "valid": 1, "test": 2}
_SPLIT_OF_CODE = {code: name for name, code in SPLIT_CODES.items()}


@dataclass
class OutputFile:
    split: str
    index: int
    path: Path
    first: tuple[int, int] | None = None  # (scan task index, row) of its first row
    last: tuple[int, int] | None = None
    rows: int = 0
    bytes: int = 0


@dataclass
class SourcePlan:
    """How to tell a scanned shard's rows apart: a fixed split, or new splits by key."""

    split: str
    cut: tuple[Threshold, Threshold] | None = None  # (test, test+valid) thresholds


@dataclass
class ReshardResult:
    summary: RunSummary
    files: dict[str, list[OutputFile]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            split: {
                "files": len(files),
                "rows": sum(f.rows for f in files),
                "bytes": sum(f.bytes for f in files),
                "min_file_bytes": min(f.bytes for f in files),
                "max_file_bytes": max(f.bytes for f in files),
            }
            for split, files in self.files.items()
        }


def _row_splits(plan: SourcePlan, keys: np.ndarray, shard: int, first_row: int) -> np.ndarray:
    """Split code of each row in a chunk (0 train, 1 valid, 2 test)."""
    if plan.cut is None:
        return np.full(len(keys), SPLIT_CODES[plan.split], dtype=np.int64)
    test, test_or_valid = plan.cut
    codes = np.zeros(len(keys), dtype=np.int64)
    codes[test_or_valid.mask(keys, shard, first_row)] = SPLIT_CODES["valid"]
    codes[test.mask(keys, shard, first_row)] = SPLIT_CODES["test"]
    return codes


class _ListRows:
    """A block's rows (lines without newlines) with the interface of :class:`RowRun`."""

    def __init__(self, rows: list[bytes]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def take(self, keep: np.ndarray) -> tuple[bytes, int]:
        chosen = list(compress(self.rows, keep.tolist()))
        return (b"\n".join([*chosen, b""]) if chosen else b""), len(chosen)


_NEVER = 1 << 62


class ReshardStep(Step):
    """Writes the output files whose first row lies in the task's shard (see the module doc)."""

    name = "reshard"
    resumable = False
    compression_level: int | None = None

    def __init__(
        self,
        seed: int,
        scan_tasks: list[ShardTask],
        sources: dict[int, SourcePlan],
        sizes_spills: dict[int, Path | None] | None = None,
    ) -> None:
        self.seed = seed
        self.scan_tasks = scan_tasks
        self.sources = sources
        #: per scan task, the row sizes of a clean shard (read by offset), else None
        self.sizes_spills = sizes_spills or {}

    def run(self, task: ShardTask, stats: ShardStats) -> None:
        pending: dict[str, list[OutputFile]] = {}
        for f in task.params["files"]:
            pending.setdefault(f.split, []).append(f)
        writers: dict[str, ShardWriter] = {}
        try:
            shard = task.params["start_shard"]
            while any(pending.values()):
                if shard >= len(self.scan_tasks):
                    raise DataError("the input changed while it was being resharded", task.input)
                self._read_shard(shard, pending, writers, stats)
                shard += 1
        except BaseException:
            for writer in writers.values():
                writer.abort()
            raise
        return None

    def _read_shard(
        self,
        shard: int,
        pending: dict[str, list[OutputFile]],
        writers: dict[str, ShardWriter],
        stats: ShardStats,
    ) -> None:
        """Write this shard's rows that belong to pending files; stop after the last one needed."""
        stop_row = max(
            (f.last[1] if f.last[0] == shard else _NEVER for fs in pending.values() for f in fs if f.last),
            default=-1,
        )
        scan_task = self.scan_tasks[shard]
        stream = KeyStream(self.seed, scan_task.key)
        sizes_spill = self.sizes_spills.get(shard)
        if sizes_spill is not None:
            sizes = read_spill(sizes_spill)
            with RowReader(scan_task.input, sizes) as reader:
                for run in reader.runs(stop_row + 1):
                    self._maybe_dispatch(
                        run, stream.next(len(run)), shard, run.first_row, pending, writers, stats
                    )
            return
        row = 0
        for block in iter_blocks(scan_task.input):
            rows = block.rows
            if row + len(rows) > stop_row + 1:
                rows = rows[: stop_row + 1 - row]
            if rows:
                keys = stream.next(len(rows))
                self._maybe_dispatch(_ListRows(rows), keys, shard, row, pending, writers, stats)
                row += len(rows)
            if row > stop_row:
                return

    def _maybe_dispatch(
        self,
        batch: RowRun | _ListRows,
        keys: np.ndarray,
        shard: int,
        first_row: int,
        pending: dict[str, list[OutputFile]],
        writers: dict[str, ShardWriter],
        stats: ShardStats,
    ) -> None:
        """Skip the batch when no pending file has started by its last row."""
        last = (shard, first_row + len(batch) - 1)
        if any(fs[0].first <= last for fs in pending.values() if fs and fs[0].first is not None):
            self._dispatch(batch, keys, shard, first_row, pending, writers, stats)

    def _dispatch(
        self,
        batch: RowRun | _ListRows,
        keys: np.ndarray,
        shard: int,
        first_row: int,
        pending: dict[str, list[OutputFile]],
        writers: dict[str, ShardWriter],
        stats: ShardStats,
    ) -> None:
        """Hand each row of the batch to the file it belongs to: per split, the files of the
        split's queue take consecutive row ranges."""
        plan = self.sources[shard]
        rows = np.arange(first_row, first_row + len(batch))
        if plan.cut is None:
            masks: dict[str, np.ndarray | None] = {plan.split: None}
        else:
            codes = _row_splits(plan, keys, shard, first_row)
            masks = {name: codes == code for name, code in SPLIT_CODES.items()}
        last_row = first_row + len(batch) - 1
        for name, mask in masks.items():
            queue = pending.get(name)
            while queue:
                current = queue[0]
                assert current.first is not None and current.last is not None
                lo = (
                    -1
                    if current.first[0] < shard
                    else (current.first[1] if current.first[0] == shard else _NEVER)
                )
                hi = _NEVER if current.last[0] > shard else current.last[1]
                if lo > last_row:
                    break  # the file starts further on
                keep = (rows >= lo) & (rows <= hi)
                if mask is not None:
                    keep &= mask
                data, count = batch.take(keep)
                if count:
                    writer = writers.get(name)
                    if writer is None:
                        writer = writers[name] = ShardWriter(current.path, level=self.compression_level)
                    writer.write_block(data, count)
                    stats.read(count, len(data))
                    stats.wrote(count)
                if hi > last_row:
                    break  # the file goes on in the next batch
                writer = writers.pop(name, None)
                if writer is None:  # a file whose rows were all in earlier batches cannot end here
                    raise DataError(
                        "the input changed while it was being resharded", self.scan_tasks[shard].input
                    )
                writer.close()
                queue.pop(0)


def _file_name(index: int, num_files: int) -> str:
    digits = max(5, len(str(num_files - 1)))
    return f"shard_{index:0{digits}d}{OUTPUT_SUFFIX['zstd']}"


_OWN_NAME = re.compile(r"^shard_\d{5,}\.jsonl\.zst$")


def reshard_dataset(
    inputs: Sequence[Path],
    output_dir: Path,
    *,
    num_files: int,
    test_split: float | int | None = None,
    valid_split: float | int | None = None,
    seed: int = 42,
    compression_level: int | None = None,
    num_proc: int | None = None,
    progress: ProgressSink | None = None,
) -> ReshardResult:
    """Reshard ``inputs`` into ``num_files`` files per output split under ``output_dir``."""
    if num_files < 1:
        raise UsageError(f"--num-files must be at least 1, got {num_files}")
    output_dir = Path(output_dir)
    datasets = discover_datasets(inputs)
    cutting = test_split is not None or valid_split is not None
    flat_output = all(d.flat for d in datasets) and not cutting
    present = {split for d in datasets for split in d.splits}
    if cutting:
        for split, amount in (("test", test_split), ("valid", valid_split)):
            if amount is not None and split in present:
                raise UsageError(
                    f"the input already has a {split} split; new splits are cut from train",
                    hint="pass the train/ folder (or a folder of shards) to cut new splits from it",
                )

    scan_tasks: list[ShardTask] = []
    for number, dataset in enumerate(datasets):
        for split in SPLIT_NAMES:
            for shard in dataset.shards(split):
                key = f"{number}/{split}/{dataset.relative(split, shard)}"
                scan_tasks.append(ShardTask(index=len(scan_tasks), key=key, input=shard, split=split))
    if not scan_tasks:
        raise UsageError("no shards found in " + ", ".join(map(str, inputs)))

    executor = LocalExecutor(num_proc, progress=progress)
    spill_root = output_dir / STATE_DIR / "reshard-scan"
    shutil.rmtree(spill_root, ignore_errors=True)
    with executor:  # workers started once for both passes
        try:
            scan = executor.run(ScanStep(spill_root), scan_tasks, None, "measure")
            scans: dict[int, ScanResult] = {r.task.index: r.result for r in scan.results}
            rows = {index: s.rows for index, s in scans.items()}

            sources: dict[int, SourcePlan] = {
                t.index: SourcePlan(split=t.split or "train") for t in scan_tasks
            }
            if cutting:
                source_tasks = [t for t in scan_tasks if t.split == "train"]
                total = sum(rows[t.index] for t in source_tasks)
                n_test = amount_to_rows(test_split, total, "--test-split-frac")
                n_valid = amount_to_rows(valid_split, total, "--valid-split-frac")
                if n_test + n_valid > total:
                    raise UsageError(
                        f"test ({n_test:,}) and valid ({n_valid:,}) rows exceed the {total:,} rows"
                    )

                def sweep():
                    for task in source_tasks:
                        stream = KeyStream(seed, task.key)
                        count = rows[task.index]
                        for start in range(0, count, KEY_CHUNK):
                            keys = stream.next(min(KEY_CHUNK, count - start))
                            yield (
                                task.index,
                                start,
                                keys,
                                np.zeros(len(keys), dtype=np.int64),
                                np.ones(len(keys)),
                            )

                [cut_test] = find_thresholds(sweep, [n_test], 1)
                [cut_both] = find_thresholds(sweep, [n_test + n_valid], 1)
                for task in source_tasks:
                    sources[task.index] = SourcePlan(split="train", cut=(cut_test, cut_both))

            # where each row goes: per output split, contiguous runs of near-equal bytes
            def sizes_and_splits(task: ShardTask) -> tuple[np.ndarray, np.ndarray]:
                sizes = np.asarray(read_spill(spill_paths(spill_root, task)[0]), dtype=np.int64)
                keys = KeyStream(seed, task.key).next(len(sizes))
                return sizes, _row_splits(sources[task.index], keys, task.index, 0)

            split_bytes: dict[str, int] = {}
            for task in scan_tasks:
                sizes, codes = sizes_and_splits(task)
                for name, code in SPLIT_CODES.items():
                    total = int(sizes[codes == code].sum())
                    if total or (codes == code).any():
                        split_bytes[name] = split_bytes.get(name, 0) + total
            out_splits = [s for s in SPLIT_NAMES if s in split_bytes]
            if cutting:
                out_splits = sorted(
                    set(out_splits)
                    | {"train"}
                    | ({"test"} if test_split is not None else set())
                    | ({"valid"} if valid_split is not None else set()),
                    key=SPLIT_NAMES.index,
                )
            files: dict[str, list[OutputFile]] = {}
            for split in out_splits:
                folder = output_dir if flat_output else output_dir / split
                files[split] = [
                    OutputFile(split, j, folder / _file_name(j, num_files)) for j in range(num_files)
                ]
            seen_bytes = {split: 0 for split in out_splits}
            for task in scan_tasks:
                sizes, codes = sizes_and_splits(task)
                for split in out_splits:
                    chosen = np.nonzero(codes == SPLIT_CODES[split])[0]
                    if not len(chosen):
                        continue
                    chunk = sizes[chosen]
                    before = seen_bytes[split] + np.cumsum(chunk) - chunk
                    total = max(1, split_bytes.get(split, 1))
                    owner = np.minimum(
                        num_files - 1, ((before + chunk / 2) * num_files // total).astype(np.int64)
                    )
                    seen_bytes[split] += int(chunk.sum())
                    for j in np.unique(owner).tolist():
                        members = chosen[owner == j]
                        f = files[split][j]
                        if f.first is None:
                            f.first = (task.index, int(members[0]))
                        f.last = (task.index, int(members[-1]))
                        f.rows += len(members)
                        f.bytes += int(sizes[members].sum())

            # one task per run of output files starting in the same input shard, cut further so
            # that every worker has work even when one big input shard feeds all files
            started = sorted(
                (f for split_files in files.values() for f in split_files if f.first is not None),
                key=lambda f: (f.first, SPLIT_NAMES.index(f.split)),
            )
            empty = [f for split_files in files.values() for f in split_files if f.first is None]
            groups: list[list[OutputFile]] = []
            if executor.num_proc == 1 and started:
                groups = [started]  # one reader front to back: every input byte decoded once
            else:
                target_tasks = max(len({f.first[0] for f in started}), 2 * executor.num_proc)
                per_task = max(1, -(-len(started) // target_tasks)) if started else 1
                for f in started:
                    if groups and groups[-1][0].first[0] == f.first[0] and len(groups[-1]) < per_task:
                        groups[-1].append(f)
                    else:
                        groups.append([f])
            write_tasks = [
                ShardTask(
                    index=number,
                    key=f"reshard/{number:06d}",
                    input=scan_tasks[group[0].first[0]].input,
                    output=None,
                    split=None,
                    params={"files": group, "start_shard": group[0].first[0]},
                )
                for number, group in enumerate(groups)
            ]
            for f in empty:
                with ShardWriter(f.path, level=compression_level):
                    pass
            sizes_spills = {
                t.index: spill_paths(spill_root, t)[0] if scans[t.index].clean else None for t in scan_tasks
            }
            step = ReshardStep(seed, scan_tasks, sources, sizes_spills)
            step.compression_level = compression_level
            summary = executor.run(step, write_tasks, output_dir, "reshard") if write_tasks else scan
        finally:
            shutil.rmtree(spill_root, ignore_errors=True)

    # leftovers of an earlier run with more files would silently join the dataset
    planned = {f.path for fs in files.values() for f in fs}
    for folder in {path.parent for path in planned}:
        for stale in folder.glob("shard_*.jsonl.zst"):
            if _OWN_NAME.match(stale.name) and stale not in planned:
                stale.unlink()
    return ReshardResult(summary=summary, files=files)
