"""Reshaping rows with jq: ``-t`` for the text side, ``-l`` for the label side.

Each expression runs on the input row. An object result is merged into the row (its keys
replace existing ones); any other value is stored as ``text`` (for ``-t``) or ``label`` (for
``-l``). With ``keep_fields=False`` the output row holds only what the expressions produced.
An expression that fails or yields nothing is an error naming file:line and the expression,
or, with ``skip_errors``, a counted skip.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bonepick.data.jq_fields import ProjectedExpression
from bonepick.errors import DataError, UsageError
from bonepick.io.blocks import Block
from bonepick.io.dataset import discover_datasets
from bonepick.pipeline import LocalExecutor, MapStep, ProgressSink, RunSummary, ShardStats, ShardTask
from bonepick.pipeline.tasks import plan_mirrored_tasks

BATCH_ROWS = 256


class TransformStep(MapStep):
    name = "transform"

    def __init__(
        self,
        text_expression: str | None,
        label_expression: str | None,
        keep_fields: bool = True,
        skip_errors: bool = False,
    ) -> None:
        self.parts: list[tuple[str, str, ProjectedExpression]] = []
        if text_expression:
            self.parts.append(("text", "-t", ProjectedExpression(text_expression)))
        if label_expression:
            self.parts.append(("label", "-l", ProjectedExpression(label_expression)))
        self.keep_fields = keep_fields
        self.skip_errors = skip_errors

    def map_rows(
        self, rows: Iterator[tuple[Path, int, dict[str, Any]]], stats: ShardStats, task: ShardTask
    ) -> Iterator[Any]:
        batch: list[tuple[Path, int, dict[str, Any]]] = []
        for item in rows:
            batch.append(item)
            if len(batch) >= BATCH_ROWS:
                yield from self._batch(batch, stats)
                batch = []
        yield from self._batch(batch, stats)

    def map_block(
        self, block: Block, rows: list[dict[str, Any]], stats: ShardStats, task: ShardTask
    ) -> list[Any]:
        path = block.path
        return list(
            self._batch(
                [(path, line, row) for line, row in zip(block.row_line_numbers(), rows, strict=True)], stats
            )
        )

    def _batch(self, batch: list[tuple[Path, int, dict[str, Any]]], stats: ShardStats) -> Iterator[Any]:
        if not batch:
            return
        outputs = [expression.all_batch([row for _, _, row in batch]) for _, _, expression in self.parts]
        if all(out is not None for out in outputs) and all(v for out in outputs for v in out):  # type: ignore[union-attr]
            for index, (_path, _line, row) in enumerate(batch):
                yield self.merge(
                    row,
                    [(field, out[index][0]) for (field, _, _), out in zip(self.parts, outputs, strict=True)],
                )  # type: ignore[index]
            return
        for path, line, row in batch:  # some row fails or yields nothing: find it, name it
            results = []
            for field, flag, expression in self.parts:
                try:
                    values = expression.all(row, path, line)
                except DataError:
                    if not self.skip_errors:
                        raise
                    stats.skip(f"{flag} expression failed")
                    break
                if not values:
                    if not self.skip_errors:
                        raise DataError(
                            f"{flag} expression '{expression.source}' yielded nothing",
                            path,
                            line,
                            hint="check the field names, or pass --skip-errors to skip such rows",
                        )
                    stats.skip(f"{flag} expression yielded nothing")
                    break
                results.append((field, values[0]))
            else:
                yield self.merge(row, results)

    def merge(self, row: dict[str, Any], results: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(row) if self.keep_fields else {}
        for field, value in results:
            if isinstance(value, dict):
                out.update(value)
            else:
                out[field] = value
        return out


def transform_dataset(
    inputs: Sequence[Path],
    output_dir: Path,
    *,
    text_expression: str | None = None,
    label_expression: str | None = None,
    keep_fields: bool = True,
    skip_errors: bool = False,
    compression_level: int | None = None,
    num_proc: int | None = None,
    overwrite: bool = False,
    progress: ProgressSink | None = None,
) -> RunSummary:
    """Apply the jq expressions to every row of ``inputs``; the output mirrors the input layout."""
    if not text_expression and not label_expression:
        raise UsageError("nothing to do: give -t/--text-transform and/or -l/--label-transform")
    step = TransformStep(text_expression, label_expression, keep_fields, skip_errors)
    step.compression_level = compression_level
    tasks = plan_mirrored_tasks(discover_datasets(inputs), output_dir)
    executor = LocalExecutor(num_proc, overwrite=overwrite, progress=progress)
    settings = {
        "inputs": list(inputs),
        "text_expression": text_expression,
        "label_expression": label_expression,
        "keep_fields": keep_fields,
        "skip_errors": skip_errors,
        "compression_level": compression_level,
    }
    return executor.run(step, tasks, output_dir, "transform", settings=settings)
