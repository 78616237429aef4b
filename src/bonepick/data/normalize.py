"""Normalize the text of every row with a named normalizer, shard by shard.

The text comes from a jq expression (``.text`` by default). When the expression is a plain path
(``.text``, ``.meta.body``) the normalized text replaces that field; when it computes the text
(``.title + "\\n" + .body``) the result is stored as ``text``. Every other field is kept.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bonepick.data.expressions import Expression
from bonepick.data.normalizers import Normalizer, canonical_name, get_normalizer
from bonepick.io.dataset import discover_datasets
from bonepick.pipeline import LocalExecutor, MapStep, ProgressSink, RunSummary, ShardStats, ShardTask
from bonepick.pipeline.tasks import plan_mirrored_tasks

# rows per normalize_batch call: large enough for tokenizer batching, small enough to stream
BATCH_ROWS = 256


def target_path(expression: Expression) -> tuple[str, ...]:
    """The field the normalized text goes to: the expression's own path, else ``text``."""
    if expression.is_plain_path and expression.source != ".":
        return tuple(expression.source[1:].split("."))
    return ("text",)


def _store(row: dict[str, Any], path: tuple[str, ...], value: str) -> dict[str, Any]:
    node = row
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[path[-1]] = value
    return row


class NormalizeStep(MapStep):
    """Rows in, the same rows with their text normalized out (in input order)."""

    name = "normalize"

    def __init__(self, normalizer: str, text_expression: str = ".text") -> None:
        self.normalizer_name = canonical_name(normalizer)
        self.expression = Expression(text_expression)
        self.target = target_path(self.expression)
        self._normalizer: Normalizer | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_normalizer"] = None  # rebuilt in each worker by setup()
        return state

    def setup(self) -> None:
        self._normalizer = get_normalizer(self.normalizer_name)

    def map_rows(
        self, rows: Iterator[tuple[Path, int, dict[str, Any]]], stats: ShardStats, task: ShardTask
    ) -> Iterator[Any]:
        if self._normalizer is None:
            self.setup()
        batch: list[dict[str, Any]] = []
        texts: list[str] = []
        for path, line, row in rows:
            texts.append(self.expression.text(row, path, line))
            batch.append(row)
            if len(batch) >= BATCH_ROWS:
                yield from self._flush(batch, texts)
                batch, texts = [], []
        yield from self._flush(batch, texts)

    def _flush(self, batch: list[dict[str, Any]], texts: list[str]) -> Iterator[dict[str, Any]]:
        if not batch:
            return
        assert self._normalizer is not None
        for row, text in zip(batch, self._normalizer.normalize_batch(texts), strict=True):
            yield _store(row, self.target, text)


def normalize_dataset(
    inputs: Sequence[Path],
    output_dir: Path,
    normalizer: str,
    *,
    text_expression: str = ".text",
    compression_level: int | None = None,
    num_proc: int | None = None,
    overwrite: bool = False,
    progress: ProgressSink | None = None,
) -> RunSummary:
    """Write ``inputs`` to ``output_dir`` (same splits and shard names) with normalized text."""
    step = NormalizeStep(normalizer, text_expression)  # unknown names fail here, before any work
    step.compression_level = compression_level
    tasks = plan_mirrored_tasks(discover_datasets(inputs), output_dir)
    executor = LocalExecutor(num_proc, overwrite=overwrite, progress=progress)
    settings = {
        "inputs": list(inputs),
        "normalizer": step.normalizer_name,
        "text_expression": text_expression,
        "compression_level": compression_level,
    }
    return executor.run(step, tasks, output_dir, f"normalize ({step.normalizer_name})", settings=settings)
