"""The settings a run wrote its output folder with, kept in the folder's state directory.

A rerun resumes (skips completed shards) only when every setting that changes the output is the
same; otherwise it stops with a message naming what changed, instead of silently mixing shards
written with different settings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from bonepick.errors import UsageError
from bonepick.io.atomic import atomic_write_bytes

STATE_DIR = ".bonepick"


def settings_path(output_dir: Path, kind: str) -> Path:
    return Path(output_dir) / STATE_DIR / f"{kind}.json"


def read_settings(output_dir: Path, kind: str) -> dict[str, Any] | None:
    path = settings_path(output_dir, kind)
    if not path.is_file():
        return None
    try:
        data = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def plain(value: Any) -> Any:
    """``value`` as JSON-comparable data (paths resolved to absolute strings)."""
    if isinstance(value, Path):
        return str(value.resolve())
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [plain(v) for v in value]
    return value


def check_same_settings(output_dir: Path, kind: str, settings: Mapping[str, Any], overwrite: bool) -> None:
    """Refuse to resume into a folder written with other settings; then record ours."""
    settings = plain(settings)
    previous = read_settings(output_dir, kind)
    if previous is not None and previous != settings and not overwrite:
        changed = sorted(k for k in set(settings) | set(previous) if previous.get(k) != settings.get(k))
        raise UsageError(
            f"{output_dir} holds the output of a {kind} run with other settings ({', '.join(changed)})",
            hint="write to a new folder, or pass --overwrite to redo every shard",
        )
    atomic_write_bytes(settings_path(output_dir, kind), orjson.dumps(settings, option=orjson.OPT_SORT_KEYS))
