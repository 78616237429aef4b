"""The dataset layout: a folder with ``train/``, ``test/`` and optional ``valid/`` shard folders.

A folder without split subfolders is read as one split (named ``train`` unless a command says
otherwise); :attr:`Dataset.flat` records that so commands can tell the user.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bonepick.errors import InputNotFoundError, UsageError
from bonepick.io.shards import find_shards, output_name

SPLIT_NAMES = ("train", "valid", "test")
SPLIT_ALIASES = {"validation": "valid", "val": "valid", "dev": "valid"}


@dataclass
class Dataset:
    """A dataset folder and its shards per split (only splits that exist are present)."""

    root: Path
    splits: dict[str, list[Path]] = field(default_factory=dict)
    flat: bool = False

    def shards(self, split: str) -> list[Path]:
        return self.splits.get(split, [])

    def split_root(self, split: str) -> Path:
        return self.root if self.flat else self.root / split

    def relative(self, split: str, shard: Path) -> str:
        """The shard's path relative to its split folder, with forward slashes."""
        return shard.relative_to(self.split_root(split)).as_posix()


def normalize_split_name(name: str) -> str:
    name = name.strip().lower()
    name = SPLIT_ALIASES.get(name, name)
    if name not in SPLIT_NAMES:
        raise UsageError(f"unknown split '{name}'", hint=f"use one of: {', '.join(SPLIT_NAMES)}")
    return name


def discover_dataset(root: str | Path, flat_split: str | None = "train") -> Dataset:
    """Find the shards of each split under ``root``.

    With split folders present, only those are read. Without them, every shard under ``root``
    becomes the split ``flat_split``; with ``flat_split=None`` that is an error instead.
    """
    root = Path(root)
    if not root.exists():
        raise InputNotFoundError(f"no such folder: {root}", hint="check the path you passed")
    if root.is_file():
        if flat_split is None:
            raise UsageError(f"{root} is a file; a dataset folder with train/ and test/ is expected")
        return Dataset(root=root.parent, splits={flat_split: [root]}, flat=True)
    splits: dict[str, list[Path]] = {}
    for name in SPLIT_NAMES:
        folder = root / name
        if folder.is_dir():
            splits[name] = find_shards(folder)
    for alias, name in SPLIT_ALIASES.items():
        folder = root / alias
        if folder.is_dir() and name not in splits:
            splits[name] = find_shards(folder)
    if splits:
        return Dataset(root=root, splits=splits)
    if flat_split is None:
        raise UsageError(
            f"{root} has no train/, valid/ or test/ folder",
            hint="point at a dataset folder with split subfolders",
        )
    return Dataset(root=root, splits={flat_split: find_shards(root)}, flat=True)


def discover_datasets(roots: Iterable[str | Path], flat_split: str | None = "train") -> list[Dataset]:
    datasets = [discover_dataset(root, flat_split) for root in roots]
    if not datasets:
        raise UsageError("no input folder given", hint="pass at least one folder")
    return datasets


def source_tags(roots: Sequence[Path]) -> list[str]:
    """Short, distinct names for several input folders, so their outputs never collide.

    One input gets no tag; several get their folder names, made unique with an index when two
    folders share a name.
    """
    if len(roots) <= 1:
        return [""] * len(roots)
    names = [Path(root).resolve().name or "input" for root in roots]
    tags = []
    for index, name in enumerate(names):
        tags.append(name if names.count(name) == 1 else f"{index:02d}_{name}")
    return tags


def mirrored_output(
    dataset: Dataset, split: str, shard: Path, output_root: Path, tag: str = "", compression: str = "zstd"
) -> Path:
    """Where the output of a shard-to-shard stage goes: same split and relative folder, in the
    output's compression, under ``tag`` when several inputs share one output folder."""
    rel = Path(dataset.relative(split, shard))
    name = output_name(rel.name, compression)
    base = output_root / split
    if tag:
        base = base / tag
    return base / rel.parent / name
