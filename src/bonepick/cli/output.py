"""The one place that prints: messages and progress on stderr, results on stdout."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

err = Console(stderr=True, highlight=False)
out = Console(highlight=False)


def error(message: str, hint: str | None = None) -> None:
    err.print(Text.assemble(("error: ", "bold red"), message))
    if hint:
        err.print(Text.assemble(("hint: ", "yellow"), hint))


def info(message: str) -> None:
    err.print(message, markup=False)


def warn(message: str) -> None:
    err.print(Text.assemble(("warning: ", "yellow"), message))


def _human(n: float) -> str:
    for unit in ("", "k", "M", "G"):
        if abs(n) < 1000:
            return f"{n:.1f}{unit}" if unit else f"{n:.0f}"
        n /= 1000
    return f"{n:.1f}T"


class _RateColumn(ProgressColumn):
    """Rows/s and MB/s from the rows and bytes the steps report."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        rows = task.fields.get("rows", 0)
        nbytes = task.fields.get("bytes", 0)
        if elapsed <= 0:
            return Text(f"{_human(rows)} rows")
        text = f"{_human(rows)} rows  {_human(rows / elapsed)} rows/s"
        if nbytes:
            text += f"  {nbytes / elapsed / 1e6:.1f} MB/s"
        return Text(text, style="cyan")


class RichProgress:
    """A :class:`~bonepick.pipeline.progress.ProgressSink` drawing shards done and rows per second."""

    def __init__(self) -> None:
        self._progress: Progress | None = None
        self._task: Any = None
        self._rows = 0
        self._bytes = 0
        self.disabled = os.environ.get("BONEPICK_NO_PROGRESS", "") not in ("", "0")

    def start(self, description: str, total_shards: int) -> None:
        self._rows = self._bytes = 0
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("shards"),
            _RateColumn(),
            TimeElapsedColumn(),
            console=err,
            disable=self.disabled,
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(description, total=total_shards, rows=0, bytes=0)

    def rows(self, rows: int, nbytes: int) -> None:
        self._rows += rows
        self._bytes += nbytes
        if self._progress is not None:
            self._progress.update(self._task, rows=self._rows, bytes=self._bytes)

    def shard_done(self, skipped: bool = False) -> None:
        if self._progress is not None:
            self._progress.advance(self._task)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.update(self._task, rows=self._rows, bytes=self._bytes)
            self._progress.stop()
            self._progress = None


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a results table on stdout."""
    result = Table(title=title, title_justify="left")
    for index, column in enumerate(columns):
        result.add_column(column, justify="left" if index == 0 else "right")
    for row in rows:
        result.add_row(*[_cell(value) for value in row])
    out.print(result)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def run_summary(summary: Any, title: str, output_dir: Path | None = None) -> None:
    """Rows in/out/skipped per split, then where the output is."""
    rows = []
    for split, stats in sorted(summary.by_split().items()):
        skipped = sum(stats.skipped.values())
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(stats.skipped.items()))
        rows.append([split, stats.rows_in, stats.rows_out, skipped, reasons or "-"])
    table(title, ["split", "rows in", "rows out", "skipped", "why skipped"], rows)
    for note in getattr(summary, "notes", []):
        info(f"note: {note}")
    resumed = summary.shards_resumed
    note = f"{summary.shards} shards in {summary.seconds:.1f}s with {summary.num_proc} process(es)"
    if resumed:
        note += f"; {resumed} already complete, skipped (use --overwrite to redo)"
    if summary.temporaries_cleaned:
        note += f"; removed {summary.temporaries_cleaned} temporaries of an interrupted run"
    info(note)
    if output_dir is not None:
        info(f"output: {output_dir}")
