"""Write-to-temporary-then-rename, so a reader never sees half a file."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TEMP_MARK = ".bonepick-tmp"


def temp_path_for(path: Path) -> Path:
    """A hidden temporary name in the same folder (same file system, so the rename is atomic)."""
    return path.with_name(f".{path.name}.{os.getpid()}{TEMP_MARK}")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write to; on success it is renamed to ``path``, on error removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(path)
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def clean_temporaries(root: str | Path) -> int:
    """Remove temporaries an interrupted run left under ``root``; returns how many."""
    root = Path(root)
    if not root.is_dir():
        return 0
    removed = 0
    for path in root.rglob(f"*{TEMP_MARK}"):
        if path.is_file():
            path.unlink(missing_ok=True)
            removed += 1
    return removed
