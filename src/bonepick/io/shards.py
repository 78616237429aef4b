"""Recognising shard files by name and finding them in a folder tree."""

from __future__ import annotations

from pathlib import Path

from bonepick.errors import InputNotFoundError

DATA_SUFFIXES = (".jsonl", ".json", ".ndjson")
COMPRESSION_SUFFIXES = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd"}
OUTPUT_SUFFIX = {"zstd": ".jsonl.zst", "gzip": ".jsonl.gz", "none": ".jsonl"}


def _split_name(name: str) -> tuple[str, str, str] | None:
    """Return (stem, data suffix, compression) for a shard file name, or None if it is not one.

    Only the last one or two suffixes count, so ``part.v2.jsonl.zst`` has the stem ``part.v2``.
    """
    lower = name.lower()
    compression = "none"
    for suffix, kind in COMPRESSION_SUFFIXES.items():
        if lower.endswith(suffix):
            compression = kind
            name, lower = name[: -len(suffix)], lower[: -len(suffix)]
            break
    for suffix in DATA_SUFFIXES:
        if lower.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)], name[-len(suffix) :], compression
    return None


def is_shard(path: str | Path) -> bool:
    """True for JSON Lines files, optionally gzip or zstd compressed; hidden files never count."""
    name = Path(path).name
    return not name.startswith((".", "_")) and _split_name(name) is not None


def compression_of(path: str | Path) -> str:
    """``zstd``, ``gzip`` or ``none``, judged by the file name."""
    parts = _split_name(Path(path).name)
    if parts is None:
        lower = str(path).lower()
        for suffix, kind in COMPRESSION_SUFFIXES.items():
            if lower.endswith(suffix):
                return kind
        return "none"
    return parts[2]


def shard_stem(path: str | Path) -> str:
    """The file name without its data and compression suffixes."""
    parts = _split_name(Path(path).name)
    return parts[0] if parts else Path(path).name


def output_name(path: str | Path, compression: str = "zstd") -> str:
    """The name an output shard derived from ``path`` gets, with the chosen compression."""
    return shard_stem(path) + OUTPUT_SUFFIX[compression]


def find_shards(root: str | Path) -> list[Path]:
    """All shard files under ``root`` (or ``root`` itself if it is one), sorted by relative path.

    Hidden files and folders (names starting with ``.``) and ones starting with ``_`` are skipped,
    which keeps bonepick's own state and temporaries out of every listing.
    """
    root = Path(root)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise InputNotFoundError(f"no such folder: {root}", hint="check the path you passed")
    found: list[Path] = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if any(part.startswith((".", "_")) for part in rel.parts[:-1]):
            continue
        if path.is_file() and is_shard(path):
            found.append(path)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())
