"""The settings a scoring or filtering run wrote its output with, kept in the output's state
folder so a rerun resumes only when nothing that changes the output has changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from bonepick.errors import UsageError
from bonepick.io.atomic import atomic_write_bytes
from bonepick.pipeline.executor import STATE_DIR


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


def check_same_settings(output_dir: Path, kind: str, settings: dict[str, Any], overwrite: bool) -> None:
    """Refuse to resume into a folder written with other settings; then record ours."""
    previous = read_settings(output_dir, kind)
    if previous is not None and previous != settings and not overwrite:
        changed = sorted(k for k in set(settings) | set(previous) if previous.get(k) != settings.get(k))
        raise UsageError(
            f"{output_dir} holds the output of a {kind} run with other settings ({', '.join(changed)})",
            hint="write to a new folder, or pass --overwrite to redo every shard",
        )
    atomic_write_bytes(settings_path(output_dir, kind), orjson.dumps(settings, option=orjson.OPT_SORT_KEYS))
