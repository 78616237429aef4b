"""Where score files go: they mirror the document shards, so a document's scores are found by
path and line number alone.

A dataset with split folders keeps them (``out/train/part_00.jsonl.zst``); a flat folder of shards
stays flat (``out/part_00.jsonl.zst``). Several input folders get one sub-folder each, named as in
:func:`~bonepick.io.dataset.source_tags`. ``infer`` and ``filter`` both use this mapping.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bonepick.errors import InputNotFoundError, UsageError
from bonepick.io.dataset import Dataset, discover_datasets, source_tags
from bonepick.io.shards import OUTPUT_SUFFIX, shard_stem
from bonepick.pipeline import ShardTask


@dataclass(frozen=True)
class Shard:
    """One document shard, its split, and its path relative to the output root of any mirror."""

    path: Path
    split: str | None
    relative: Path  # e.g. train/sub/part_00 without suffixes


def iter_shards(datasets: Sequence[Dataset]) -> Iterator[Shard]:
    tags = source_tags([d.root for d in datasets])
    for dataset, tag in zip(datasets, tags, strict=True):
        for split, shards in dataset.splits.items():
            for shard in shards:
                rel = Path(dataset.relative(split, shard))
                base = Path(tag) if dataset.flat else Path(split) / tag
                yield Shard(shard, None if dataset.flat else split, base / rel.parent / shard_stem(rel.name))


def mirror_path(root: Path, shard: Shard, compression: str) -> Path:
    return root / shard.relative.parent / (shard.relative.name + OUTPUT_SUFFIX[compression])


def find_mirror(root: Path, shard: Shard) -> Path:
    """The existing file mirroring ``shard`` under ``root``, in whichever compression it has."""
    for suffix in OUTPUT_SUFFIX.values():
        candidate = root / shard.relative.parent / (shard.relative.name + suffix)
        if candidate.is_file():
            return candidate
    raise InputNotFoundError(
        f"no score file for {shard.path} under {root} (expected {shard.relative}.jsonl.zst)",
        hint="pass the folder `bonepick infer` wrote for these same documents (-o of infer)",
    )


def plan_tasks(
    inputs: Sequence[Path], output_root: Path, compression: str = "zstd"
) -> tuple[list[Dataset], list[ShardTask]]:
    """One task per input shard with its mirrored output path under ``output_root``."""
    datasets = discover_datasets(inputs)
    check_output_outside_inputs(inputs, datasets, output_root)
    tasks = []
    for shard in iter_shards(datasets):
        output = mirror_path(output_root, shard, compression)
        tasks.append(
            ShardTask(
                index=len(tasks),
                key=output.relative_to(output_root).as_posix(),
                input=shard.path,
                output=output,
                split=shard.split,
            )
        )
    if not tasks:
        raise InputNotFoundError(
            f"no .jsonl, .jsonl.gz or .jsonl.zst shards under {', '.join(map(str, inputs))}",
            hint="point -i at a folder of JSON Lines shards",
        )
    return datasets, tasks


def check_output_outside_inputs(
    inputs: Sequence[Path], datasets: Sequence[Dataset], output_root: Path
) -> None:
    """Refuse an output folder that the next run would read back as input."""
    out = output_root.resolve()
    for given, dataset in zip(inputs, datasets, strict=True):
        if Path(given).is_file():
            continue
        roots = [dataset.root] if dataset.flat else [dataset.split_root(s) for s in dataset.splits]
        for root in roots:
            root = root.resolve()
            if out == root or root in out.parents:
                raise UsageError(
                    f"the output folder {output_root} is inside the input folder {root}",
                    hint="write the output somewhere else; it would be read back as input next time",
                )
