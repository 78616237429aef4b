"""Reshaping rows with jq: ``-t`` for the text side, ``-l`` for the label side.

Each expression runs on the input row. An object result is merged into the row (its keys
replace existing ones); any other value is stored as ``text`` (for ``-t``) or ``label`` (for
``-l``). With ``keep_fields=False`` the output row holds only what the expressions produced.
An expression that fails or yields nothing is an error naming file:line and the expression,
or, with ``skip_errors``, a counted skip.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator, Sequence
from itertools import repeat
from pathlib import Path
from typing import Any

import orjson

from bonepick.data.jq_fields import ProjectedExpression
from bonepick.errors import DataError, UsageError
from bonepick.io.blocks import Block, iter_blocks
from bonepick.io.dataset import discover_datasets
from bonepick.io.jsonl import ShardWriter, dumps_row
from bonepick.pipeline import LocalExecutor, MapStep, ProgressSink, RunSummary, ShardStats, ShardTask
from bonepick.pipeline.tasks import plan_mirrored_tasks

BATCH_ROWS = 256
_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


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

    def run(self, task: ShardTask, stats: ShardStats) -> None:
        assert task.output is not None
        with ShardWriter(task.output, level=self.compression_level) as writer:
            for block in iter_blocks(task.input):
                rows = block.parse()
                stats.read(len(rows), block.total_bytes())
                data, count = self._block_output(block, rows, stats)
                if count:
                    writer.write_block(data, count)
                    stats.wrote(count)

    def _block_output(self, block: Block, rows: list[dict[str, Any]], stats: ShardStats) -> tuple[bytes, int]:
        """The output lines of a block, joined, and their count. When every expression gives a
        value for every row and fields are kept, a row's new keys are spliced onto its original
        bytes (``{...}`` becomes ``{...,"score":1}``): the row is not serialised again. A row
        that already has one of the keys gets it replaced in place, so it is written anew."""
        outputs = [expression.all_batch(rows) for _, _, expression in self.parts]
        if any(out is None for out in outputs) or not all(map(all, outputs)):  # type: ignore[arg-type]
            items = list(zip(repeat(block.path), block.row_line_numbers(), rows, strict=False))
            lines = [dumps_row(row) for row in self._batch(items, stats)]
            return b"".join(lines), len(lines)
        fields = [field for field, _, _ in self.parts]
        if not self.keep_fields:
            lines = [
                dumps_row(self.merge(row, list(zip(fields, (out[0] for out in values), strict=True))))
                for row, *values in zip(rows, *outputs, strict=True)  # type: ignore[call-overload]
            ]
            return b"".join(lines), len(lines)
        # rows with equal projected inputs share their output lists: one suffix per distinct list
        idents = list(zip(*(map(id, out) for out in outputs), strict=True))  # type: ignore[union-attr]
        suffixes: dict[tuple[int, ...], tuple[tuple[str, ...], bytes]] = {}
        for ident, values in dict(zip(idents, zip(*outputs, strict=True), strict=True)).items():  # type: ignore[call-overload]
            if ident not in suffixes:
                additions: dict[str, Any] = {}
                for field, out in zip(fields, values, strict=True):
                    if type(out[0]) is dict:
                        additions.update(out[0])
                    else:
                        additions[field] = out[0]
                suffixes[ident] = (
                    tuple(additions),
                    b"," + orjson.dumps(additions, option=_JSON_OPTIONS)[1:] + b"\n",
                )
        new_keys = {key for keys, _ in suffixes.values() for key in keys}
        raws = block.rows
        if (
            all(keys for keys, _ in suffixes.values())
            and not any(any(map(operator.contains, rows, repeat(key))) for key in new_keys)
            and all(rows)
            and all(map(bytes.endswith, raws, repeat(b"}")))
        ):  # the usual case: every row gets new keys appended
            pieces: list[bytes] = [b""] * (2 * len(raws))
            pieces[0::2] = [raw[:-1] for raw in raws]
            pieces[1::2] = [suffixes[ident][1] for ident in idents]
            return b"".join(pieces), len(raws)
        lines = []
        for raw, row, ident, *values in zip(raws, rows, idents, *outputs, strict=True):  # type: ignore[call-overload]
            keys, suffix = suffixes[ident]
            if not keys:
                lines.append(raw + b"\n")
            elif any(key in row for key in keys):
                merged = self.merge(row, [(f, out[0]) for f, out in zip(fields, values, strict=True)])
                lines.append(dumps_row(merged))
            elif row:
                lines.append(raw.rstrip()[:-1] + suffix)
            else:
                lines.append(b"{" + suffix[1:])
        return b"".join(lines), len(lines)

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
