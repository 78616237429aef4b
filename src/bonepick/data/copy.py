"""Copy a dataset shard by shard, validating every row and changing compression on the way."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bonepick.io.dataset import discover_datasets
from bonepick.pipeline import FilterStep, LocalExecutor, ProgressSink, RunSummary
from bonepick.pipeline.tasks import plan_mirrored_tasks


class CopyStep(FilterStep):
    """Every row checked (a malformed line fails with file:line) and written back unchanged."""

    name = "copy"
    reads_rows = False

    def __init__(self, compression_level: int | None = None) -> None:
        self.compression_level = compression_level


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
    settings = {"inputs": list(inputs), "compression": compression, "compression_level": compression_level}
    return executor.run(CopyStep(compression_level), tasks, output_dir, "copy", settings=settings)
