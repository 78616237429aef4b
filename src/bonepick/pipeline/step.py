"""A per-shard step: set up once per worker, then process shards one at a time.

Steps do not know where they run; executors do not know what a row is. They meet at
:class:`ShardTask`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bonepick.io.blocks import Block, iter_blocks, select, write_rows_raw
from bonepick.io.jsonl import ShardWriter, dumps_row
from bonepick.pipeline.stats import ShardStats


@dataclass(frozen=True)
class ShardTask:
    """One unit of work: an input shard and (for steps that write) its output path.

    ``key`` names the task for completion markers and messages; it is unique within a run.
    """

    index: int
    key: str
    input: Path
    output: Path | None = None
    split: str | None = None
    params: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass
class TaskResult:
    task: ShardTask
    stats: ShardStats
    result: Any = None
    resumed: bool = False


class Step:
    """Base class of per-shard work. Subclasses are pickled to worker processes, so keep heavy
    state (models, compiled expressions) out of ``__init__`` and build it in :meth:`setup`."""

    #: shown in progress bars and provenance
    name: str = "step"
    #: whether a completed shard may be skipped on rerun (steps that only count must say False)
    resumable: bool = True

    def setup(self) -> None:
        """Called once per worker process before the first shard."""

    def run(self, task: ShardTask, stats: ShardStats) -> Any:
        """Process one shard; return an optional picklable result for the caller."""
        raise NotImplementedError


class MapStep(Step):
    """Reads a shard, maps its rows, writes the output shard atomically.

    Subclasses implement :meth:`map_rows`, receiving ``(path, line, row)`` triples so errors can
    name the file and line, and yield output rows; or :meth:`map_block`, which sees a whole block
    of parsed rows at once (the shard is read a block at a time either way).
    """

    compression_level: int | None = None

    def map_rows(
        self, rows: Iterator[tuple[Path, int, dict[str, Any]]], stats: ShardStats, task: ShardTask
    ) -> Iterator[Any]:
        raise NotImplementedError

    def map_block(
        self, block: Block, rows: list[dict[str, Any]], stats: ShardStats, task: ShardTask
    ) -> list[Any]:
        """The output rows of one block of input rows."""
        path = block.path
        items = ((path, line, row) for line, row in zip(block.row_line_numbers(), rows, strict=True))
        return list(self.map_rows(items, stats, task))

    def run(self, task: ShardTask, stats: ShardStats) -> Any:
        assert task.output is not None, "a MapStep task needs an output path"
        with ShardWriter(task.output, level=self.compression_level) as writer:
            for block in iter_blocks(task.input):
                rows = block.parse()
                stats.read(len(rows), block.total_bytes())
                out = self.map_block(block, rows, stats, task)
                if out:
                    writer.write_block(b"".join(map(dumps_row, out)), len(out))
                    stats.wrote(len(out))
        return None


class FilterStep(Step):
    """Keeps or drops rows without changing them: kept rows are written as their original bytes,
    with no re-serialisation, which makes pass-through stages (copy, balance, sample, filter) run
    close to the raw decode rate. Shards are read a block of lines at a time and every row is
    parsed (a malformed line fails with file:line). Subclasses implement :meth:`keep` (or
    :meth:`keep_block` for whole blocks); dropped rows must be counted with ``stats.skip(reason)``."""

    compression_level: int | None = None
    #: False for a step that keeps every row whatever it holds: rows are then only checked
    #: (:meth:`Block.check`, no parsed rows kept) and :meth:`keep_block` is not called
    reads_rows: bool = True

    def keep(self, path: Path, line: int, row: dict[str, Any], stats: ShardStats, task: ShardTask) -> bool:
        raise NotImplementedError

    def keep_block(
        self, block: Block, rows: list[dict[str, Any]], stats: ShardStats, task: ShardTask
    ) -> list[bool] | None:
        """Which rows of a block to keep; ``None`` keeps them all."""
        path = block.path
        return [
            self.keep(path, line, row, stats, task)
            for line, row in zip(block.row_line_numbers(), rows, strict=True)
        ]

    def run(self, task: ShardTask, stats: ShardStats) -> Any:
        assert task.output is not None, "a FilterStep task needs an output path"
        with ShardWriter(task.output, level=self.compression_level) as writer:
            for block in iter_blocks(task.input):
                if self.reads_rows:
                    rows = block.parse()
                    mask = self.keep_block(block, rows, stats, task)
                else:
                    block.check()
                    mask = None
                stats.read(len(block.rows), block.total_bytes())
                kept = block.rows if mask is None else select(block.rows, mask)
                write_rows_raw(writer, kept, block)
                stats.wrote(len(kept))
        return None
