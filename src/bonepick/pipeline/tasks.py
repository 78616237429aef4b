"""Turning dataset folders into lists of shard tasks."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bonepick.io.dataset import Dataset, mirrored_output, source_tags
from bonepick.pipeline.step import ShardTask


def plan_mirrored_tasks(
    datasets: Sequence[Dataset],
    output_root: Path,
    splits: Sequence[str] | None = None,
    compression: str = "zstd",
) -> list[ShardTask]:
    """One task per input shard whose output mirrors the input's split and relative path.

    Several input folders get distinct sub-folders (see :func:`source_tags`), so outputs never
    collide.
    """
    tags = source_tags([d.root for d in datasets])
    tasks: list[ShardTask] = []
    for dataset, tag in zip(datasets, tags, strict=True):
        for split, shards in dataset.splits.items():
            if splits is not None and split not in splits:
                continue
            for shard in shards:
                output = mirrored_output(dataset, split, shard, output_root, tag, compression)
                key = output.relative_to(output_root).as_posix()
                params = {"flat_root": str(dataset.root)} if dataset.flat else {}
                tasks.append(
                    ShardTask(
                        index=len(tasks), key=key, input=shard, output=output, split=split, params=params
                    )
                )
    return tasks
