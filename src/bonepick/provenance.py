"""The provenance file every command writes beside its output: what ran, on what, with what result."""

from __future__ import annotations

import datetime as dt
import platform
import sys
from pathlib import Path
from typing import Any

import yaml

from bonepick import __version__
from bonepick.io.atomic import atomic_write_text

PROVENANCE_FILE = "bonepick.yaml"


def _plain(value: Any) -> Any:
    """Make a value YAML-friendly (paths and enums become strings)."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    if hasattr(value, "value") and not isinstance(value, int | float | str | bool):
        return _plain(value.value)
    if value is None or isinstance(value, int | float | str | bool):
        return value
    return str(value)


def build_provenance(
    command: str,
    arguments: dict[str, Any],
    started: dt.datetime,
    seconds: float,
    summary: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "bonepick_version": __version__,
        "command": command,
        "argv": list(sys.argv),
        "arguments": _plain(arguments),
        "started": started.astimezone(dt.UTC).isoformat(timespec="seconds"),
        "duration_seconds": round(seconds, 3),
        "python": platform.python_version(),
        "host": platform.node(),
    }
    if summary is not None:
        record["summary"] = _plain(summary)
    if extra:
        record.update(_plain(extra))
    return record


def write_provenance(output_dir: str | Path, record: dict[str, Any], name: str = PROVENANCE_FILE) -> Path:
    """Write (atomically) the provenance YAML into ``output_dir``."""
    path = Path(output_dir) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, yaml.safe_dump(record, sort_keys=False, allow_unicode=True))
    return path


def read_provenance(output_dir: str | Path, name: str = PROVENANCE_FILE) -> dict[str, Any] | None:
    path = Path(output_dir) / name
    if not path.is_file():
        return None
    return yaml.safe_load(path.read_text(encoding="utf-8"))
