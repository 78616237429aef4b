"""Copy a dataset shard by shard, validating every row and changing compression on the way."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bonepick.io.dataset import discover_datasets
from bonepick.pipeline import LocalExecutor, MapStep, ProgressSink, RunSummary, ShardStats, ShardTask
from bonepick.pipeline.tasks import plan_mirrored_tasks


class CopyStep(MapStep):
    """Every row parsed and written back unchanged (a malformed line fails with file:line)."""

    name = "copy"

    def __init__(self, compression_level: int | None = None) -> None:
        self.compression_level = compression_level

    def map_rows(
        self, rows: Iterator[tuple[Path, int, dict[str, Any]]], stats: ShardStats, task: ShardTask
    ) -> Iterator[Any]:
        for _path, _line, row in rows:
            yield row


def copy_dataset(
    inputs: Sequence[Path],
    output_dir: Path,
    *,
    compression: str = "zstd",
    compression_level: int | None = None,
    num_proc: int | None = None,
    overwrite: bool = False,
    progress: ProgressSink | None = None,
) -> RunSummary:
    datasets = discover_datasets(inputs)
    tasks = plan_mirrored_tasks(datasets, output_dir, compression=compression)
    executor = LocalExecutor(num_proc, overwrite=overwrite, progress=progress)
    return executor.run(CopyStep(compression_level), tasks, output_dir, "copy")
