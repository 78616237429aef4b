"""The per-shard scoring step: load the model once per worker, score rows in batches, write one
output row per input row (attribute rows, or the documents with their scores added)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from bonepick.data.expressions import Expression
from bonepick.errors import DataError, ModelError
from bonepick.io.blocks import iter_blocks
from bonepick.io.jsonl import ShardWriter, dumps_row
from bonepick.models.card import ModelCard
from bonepick.pipeline import ShardStats, ShardTask, Step

OUTPUT_MODES = ("attributes", "inline")
DEFAULT_BATCH_SIZE = 1024


class InferStep(Step):
    """Scores every row of a shard with a bonepick model.

    ``attributes`` mode writes ``{"id": <id>, "<field>": {"<label>": p, ...}}`` per row (a bare
    score for regression and ranking models); ``inline`` mode writes the row itself with the
    same value added under ``field``. Output rows are in input order, one per input row.
    """

    name = "infer"

    def __init__(
        self,
        model_dir: str | Path,
        field: str,
        *,
        card: ModelCard | None = None,
        text_expression: str | None = None,
        id_expression: str = ".id",
        output: str = "attributes",
        batch_size: int = DEFAULT_BATCH_SIZE,
        compression_level: int | None = None,
        threads: int | None = None,
    ) -> None:
        if output not in OUTPUT_MODES:
            raise ValueError(f"output must be one of {OUTPUT_MODES}, got {output!r}")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.model_dir = Path(model_dir).absolute()  # workers may run elsewhere (Ray)
        self.card = card  # None: the folder's own card
        self.field = field
        self.text_expression = text_expression
        self.id_expression = id_expression
        self.inline = output == "inline"
        self.batch_size = batch_size
        self.compression_level = compression_level
        self.threads = threads
        self.model: Any = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["model"] = None  # a loaded model never travels; each worker loads its own
        for key in ("_text", "_id", "_labels", "_scalar"):
            state.pop(key, None)
        return state

    def setup(self) -> None:
        if self.threads:
            limit_threads(self.threads)
        from bonepick.models import load_model

        self.model = load_model(self.model_dir, self.card)
        if self.threads:
            limit_threads(self.threads)  # again: the model may have imported torch
        card = self.model.card
        self._text = Expression(self.text_expression or card.text_expression)
        self._id = Expression(self.id_expression)
        self._labels = list(self.model.labels)
        self._scalar = bool(card.is_scalar)
        if not self._scalar and not self._labels:
            raise ModelError(f"the model card in {self.model_dir} lists no labels")

    def run(self, task: ShardTask, stats: ShardStats) -> None:
        assert task.output is not None and self.model is not None, "setup() must run first"
        path, field = task.input, self.field
        cpu_started = time.process_time()
        with ShardWriter(task.output, level=self.compression_level) as writer:
            texts: list[str] = []
            kept: list[Any] = []
            nbytes = 0
            for block in iter_blocks(path):
                rows = block.parse()
                lines = block.row_line_numbers()
                texts += self._text.texts(rows, path, lines)
                if self.inline:
                    if any(field in row for row in rows):
                        line = next(n for n, row in zip(lines, rows, strict=True) if field in row)
                        raise DataError(
                            f"the row already has a field '{field}'",
                            path,
                            line,
                            hint="choose another --name, or use --output attributes",
                        )
                    kept += rows
                else:
                    kept += self._id.firsts(rows, path, lines)
                nbytes += block.total_bytes()
                # score full batches; the remainder waits for the next block
                size, start = self.batch_size, 0
                while len(texts) - start >= size:
                    share = round(nbytes * size / (len(texts) - start))
                    self._score(texts[start : start + size], kept[start : start + size], share, writer, stats)
                    start, nbytes = start + size, nbytes - share
                if start:
                    texts, kept = texts[start:], kept[start:]
            if texts:
                self._score(texts, kept, nbytes, writer, stats)
            if writer.rows != stats.rows_in:
                raise DataError(f"wrote {writer.rows} rows for {stats.rows_in} input rows", path)
        stats.add("cpu_seconds", time.process_time() - cpu_started)
        return None

    def _score(
        self, texts: list[str], kept: list[Any], nbytes: int, writer: ShardWriter, stats: ShardStats
    ) -> None:
        stats.read(len(texts), nbytes)
        started = time.perf_counter()
        scores = np.asarray(self.model.predict(texts))
        stats.add("model_seconds", time.perf_counter() - started)
        values = self._values(scores, len(texts))
        field = self.field
        if self.inline:
            for row, value in zip(kept, values, strict=True):
                row[field] = value
            out = kept
        else:
            out = [{"id": doc_id, field: value} for doc_id, value in zip(kept, values, strict=True)]
        writer.write_block(b"".join(map(dumps_row, out)), len(out))
        stats.wrote(len(texts))

    def _values(self, scores: np.ndarray, n: int) -> list[Any]:
        """Model output as JSON-ready values: one float, or ``{label: probability}``.

        Numbers go through orjson's numpy serializer, which writes the shortest decimal that
        reads back as the same float32/float64, so a float32 probability is ``0.93``, not
        ``0.9300000071525574``.
        """
        if self._scalar:
            if scores.ndim == 2 and scores.shape[1] == 1:
                scores = scores[:, 0]
            if scores.shape != (n,):
                raise ModelError(f"the model returned scores of shape {scores.shape} for {n} texts")
            return _plain(scores)
        if scores.shape != (n, len(self._labels)):
            raise ModelError(
                f"the model returned scores of shape {scores.shape} for {n} texts and "
                f"{len(self._labels)} labels ({', '.join(self._labels)})"
            )
        labels = self._labels
        return [dict(zip(labels, row, strict=True)) for row in _plain(scores)]


def _plain(scores: np.ndarray) -> list[Any]:
    if scores.dtype not in (np.float32, np.float64):
        scores = scores.astype(np.float64)
    return orjson.loads(orjson.dumps(np.ascontiguousarray(scores), option=orjson.OPT_SERIALIZE_NUMPY))


def limit_threads(threads: int) -> None:
    """Keep one worker to ``threads`` cores (BLAS, OpenMP, torch, the tokenizers library), so
    several workers side by side do not fight over the same cores."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["RAYON_RS_NUM_CPUS"] = str(threads)
    if threads == 1:
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads)
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        pass
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
