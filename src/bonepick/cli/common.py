"""Glue every command shares: progress, provenance, summaries."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from bonepick.cli import output
from bonepick.cli.app import current_invocation
from bonepick.cli.options import check_num_proc, parse_compression

T = TypeVar("T")


def call_with_options(func: Callable[..., T], arguments: dict[str, Any], **extra: Any) -> T:
    """Call ``func`` with the entries of ``arguments`` (a command's ``locals()``) that it names.

    Lets commands that share a block of options hand it to one helper without spelling out every
    option at every call site; a helper parameter the command lacks still fails loudly.
    """
    names = {
        name
        for name, param in inspect.signature(func).parameters.items()
        if param.kind not in (param.VAR_KEYWORD, param.VAR_POSITIONAL) and name not in extra
    }
    return func(**{name: value for name, value in arguments.items() if name in names}, **extra)


def progress() -> output.RichProgress:
    return output.RichProgress()


def stage_options(num_proc: int | None, overwrite: bool | None = None) -> dict[str, Any]:
    """Keyword arguments of a sharded stage: the checked --num-proc, --overwrite (for commands that
    have it) and a progress display."""
    options: dict[str, Any] = {"num_proc": check_num_proc(num_proc), "progress": progress()}
    if overwrite is not None:
        options["overwrite"] = overwrite
    return options


def compression_options(compression: str, compression_level: int | None) -> dict[str, Any]:
    """Keyword arguments of a stage's writer: --compression (as the writer names it) and its level."""
    return {"compression": parse_compression(compression), "compression_level": compression_level}


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
