"""Glue every command shares: progress, provenance, summaries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bonepick.cli import output
from bonepick.cli.app import current_invocation


def progress() -> output.RichProgress:
    return output.RichProgress()


def write_provenance(
    output_dir: Path, summary: Any = None, extra: dict[str, Any] | None = None, name: str | None = None
) -> Path:
    """Write ``bonepick.yaml`` (or ``name``) for the running command into ``output_dir``."""
    from bonepick.provenance import build_provenance
    from bonepick.provenance import write_provenance as write

    invocation = current_invocation.get()
    assert invocation is not None, "write_provenance must be called inside a command"
    summary_dict = summary.to_dict() if hasattr(summary, "to_dict") else summary
    record = build_provenance(
        invocation.command, invocation.arguments, invocation.started, invocation.seconds, summary_dict, extra
    )
    return write(output_dir, record) if name is None else write(output_dir, record, name)


def finish(
    output_dir: Path, summary: Any, title: str, extra: dict[str, Any] | None = None, name: str | None = None
) -> None:
    """Write provenance (``bonepick.yaml``, or ``name``) and print the rows in/out table of a run."""
    write_provenance(output_dir, summary, extra, name)
    output.run_summary(summary, title, output_dir)
