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
from pathlib import Path
from typing import Any

import numpy as np

from bonepick.data.scan import ScanResult, ScanStep, spill_paths
from bonepick.data.selection import KEY_CHUNK, KeyStream, Threshold, find_thresholds, read_spill
from bonepick.data.sizes import amount_to_rows
from bonepick.errors import DataError, UsageError
from bonepick.io.blocks import iter_blocks, write_rows_raw
from bonepick.io.dataset import SPLIT_NAMES, discover_datasets
from bonepick.io.jsonl import ShardWriter
from bonepick.io.shards import OUTPUT_SUFFIX
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


class ReshardStep(Step):
    """Writes the output files whose first row lies in the task's shard (see the module doc)."""

    name = "reshard"
    resumable = False
    compression_level: int | None = None

    def __init__(self, seed: int, scan_tasks: list[ShardTask], sources: dict[int, SourcePlan]) -> None:
        self.seed = seed
        self.scan_tasks = scan_tasks
        self.sources = sources

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
            (f.last[1] if f.last[0] == shard else 1 << 62 for fs in pending.values() for f in fs if f.last),
            default=-1,
        )
        scan_task = self.scan_tasks[shard]
        stream = KeyStream(self.seed, scan_task.key)
        row = 0
        for block in iter_blocks(scan_task.input):
            rows = block.rows
            if row + len(rows) > stop_row + 1:
                rows = rows[: stop_row + 1 - row]
            if rows:
                keys = stream.next(len(rows))
                if any(f.first <= (shard, row + len(rows) - 1) for fs in pending.values() for f in fs[:1]):
                    self._dispatch(rows, keys, shard, row, pending, writers, stats)
                row += len(rows)
            if row > stop_row:
                return

    def _dispatch(
        self,
        batch: list[bytes],
        keys: np.ndarray,
        shard: int,
        first_row: int,
        pending: dict[str, list[OutputFile]],
        writers: dict[str, ShardWriter],
        stats: ShardStats,
    ) -> None:
        plan = self.sources[shard]
        if plan.cut is None:
            self._dispatch_runs(batch, shard, first_row, pending.get(plan.split), plan.split, writers, stats)
            return
        splits = _row_splits(plan, keys, shard, first_row).tolist()
        for offset, raw in enumerate(batch):
            name = _SPLIT_OF_CODE[splits[offset]]
            queue = pending.get(name)
            if not queue:
                continue
            current = queue[0]
            position = (shard, first_row + offset)
            assert current.first is not None and current.last is not None
            if position < current.first:
                continue  # an earlier task owns this row
            writer = writers.get(name)
            if writer is None:
                writer = writers[name] = ShardWriter(current.path, level=self.compression_level)
            writer.write_line(raw + b"\n")
            stats.read(1, len(raw) + 1)
            stats.wrote()
            if position == current.last:
                writer.close()
                del writers[name]
                queue.pop(0)

    def _dispatch_runs(
        self,
        batch: list[bytes],
        shard: int,
        first_row: int,
        queue: list[OutputFile] | None,
        name: str,
        writers: dict[str, ShardWriter],
        stats: ShardStats,
    ) -> None:
        """The common case, one split per shard: each file takes a contiguous run of the batch."""
        end_row = first_row + len(batch)  # exclusive
        while queue:
            current = queue[0]
            assert current.first is not None and current.last is not None
            start = current.first[1] if current.first[0] == shard else 0
            if current.first[0] > shard:
                return
            stop = current.last[1] + 1 if current.last[0] == shard else end_row
            start, stop = max(start, first_row), min(stop, end_row)
            if start >= end_row:
                return
            writer = writers.get(name)
            if writer is None:
                writer = writers[name] = ShardWriter(current.path, level=self.compression_level)
            stats.read(stop - start, write_rows_raw(writer, batch[start - first_row : stop - first_row]))
            stats.wrote(stop - start)
            if current.last == (shard, stop - 1):
                writer.close()
                del writers[name]
                queue.pop(0)
                continue
            return


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
    try:
        scan = executor.run(ScanStep(spill_root), scan_tasks, None, "measure")
        scans: dict[int, ScanResult] = {r.task.index: r.result for r in scan.results}
        rows = {index: s.rows for index, s in scans.items()}

        sources: dict[int, SourcePlan] = {t.index: SourcePlan(split=t.split or "train") for t in scan_tasks}
        if cutting:
            source_tasks = [t for t in scan_tasks if t.split == "train"]
            total = sum(rows[t.index] for t in source_tasks)
            n_test = amount_to_rows(test_split, total, "--test-split-frac")
            n_valid = amount_to_rows(valid_split, total, "--valid-split-frac")
            if n_test + n_valid > total:
                raise UsageError(f"test ({n_test:,}) and valid ({n_valid:,}) rows exceed the {total:,} rows")

            def sweep():
                for task in source_tasks:
                    stream = KeyStream(seed, task.key)
                    count = rows[task.index]
                    for start in range(0, count, KEY_CHUNK):
                        keys = stream.next(min(KEY_CHUNK, count - start))
                        yield task.index, start, keys, np.zeros(len(keys), dtype=np.int64), np.ones(len(keys))

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
            files[split] = [OutputFile(split, j, folder / _file_name(j, num_files)) for j in range(num_files)]
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
        target_tasks = max(len({f.first[0] for f in started}), 2 * executor.num_proc)
        per_task = max(1, -(-len(started) // target_tasks)) if started else 1
        groups: list[list[OutputFile]] = []
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
        step = ReshardStep(seed, scan_tasks, sources)
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
