"""Evaluate any bonepick model on the test split of one or more datasets.

Rows are streamed shard by shard and scored in batches with the model's own preprocessing (from
its card, unless overridden); only the predictions, the true labels and a 16-byte hash per row
are kept, so memory grows with rows times classes, not with text.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from bonepick import __version__
from bonepick.data.expressions import Expression, label_to_str
from bonepick.errors import DataError, ModelError, UsageError
from bonepick.evaluate import metrics as M
from bonepick.evaluate.results import Signature, results_path, write_results
from bonepick.evaluate.sources import FASTTEXT_PREFIX, Source, iter_fasttext_blocks, resolve_sources
from bonepick.io.jsonl import open_binary_reader, parse_line, reading_errors
from bonepick.models.base import Classifier
from bonepick.models.card import ModelCard

if TYPE_CHECKING:  # the pipeline package (executors, ...) is not needed to evaluate
    from bonepick.pipeline.progress import ProgressSink

DEFAULT_BATCH_SIZE = 2048


@dataclass
class EvalOptions:
    """What to read and how; ``None`` means "as the model card says"."""

    split: str = "test"
    text_expression: str | None = None
    label_expression: str | None = None
    normalizer: str | None = None  # "none" switches the card's normalizer off
    max_length: int | None = None  # 0 switches the card's max length off
    batch_size: int = DEFAULT_BATCH_SIZE
    n_bins: int = 10


@dataclass
class Evaluation:
    """Predictions, truth and metrics of one model on one test set."""

    model_dir: Path
    card: ModelCard
    sources: list[Source]
    dataset_dirs: list[Path]
    options: EvalOptions
    labels: list[str]  # class names; for scalar tasks the distinct label values, sorted
    truth: np.ndarray  # class index (n,), 0/1 matrix (n, k) for multilabel, label value (n,) for scalar
    predictions: np.ndarray  # probabilities (n, k) or scores (n,)
    signature: str
    metrics: dict[str, Any]
    seconds: float  # everything: loading, reading, predicting, metrics
    load_seconds: float  # loading the model
    stream_seconds: float  # reading, preparing and scoring the rows
    predict_seconds: float  # of which inside the model's predict
    created: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))

    @property
    def task(self) -> str:
        return self.card.task

    @property
    def rows(self) -> int:
        return len(self.truth)

    @property
    def is_scalar(self) -> bool:
        return self.card.is_scalar

    @property
    def results_path(self) -> Path:
        return results_path(self.model_dir, self.signature)

    @property
    def docs_per_second(self) -> float | None:
        """Rows read, prepared and scored per second (model loading and metrics excluded)."""
        return self.rows / self.stream_seconds if self.stream_seconds > 0 else None

    def truth_groups(self) -> np.ndarray:
        """Index of each row's true label in :attr:`labels` (one group per row), for plots."""
        if self.is_scalar:
            return _value_groups(self.truth, self.labels)
        if self.task == "multilabel":
            raise ValueError("multilabel rows belong to several groups")
        return self.truth

    def label_counts(self) -> dict[str, int]:
        if self.task == "multilabel":
            return {label: int(c) for label, c in zip(self.labels, self.truth.sum(axis=0), strict=True)}
        groups = self.truth_groups()
        counts = np.bincount(groups[groups >= 0], minlength=len(self.labels))
        return {label: int(c) for label, c in zip(self.labels, counts, strict=True)}

    def record(self, command: dict[str, Any] | None = None) -> dict[str, Any]:
        """The content of the results YAML."""
        card = self.card
        record: dict[str, Any] = {
            "signature": self.signature,
            "model": {
                "dir": str(self.model_dir),
                "name": self.model_dir.resolve().name,
                "kind": card.kind,
                "task": card.task,
                "labels": list(card.labels),
                "base_model": card.base_model,
                "normalizer": card.normalizer,
                "max_length": card.max_length,
            },
            "data": {
                "dataset_dirs": [str(d) for d in self.dataset_dirs],
                "split": self.options.split,
                "files": len(self.sources),
                "format": sorted({s.format for s in self.sources}),
                "rows": self.rows,
                "text_expression": card.text_expression,
                "label_expression": card.label_expression,
                "label_counts": self.label_counts(),
            },
            "metrics": self.metrics,
            "timing": {
                "seconds": self.seconds,
                "load_seconds": self.load_seconds,
                "stream_seconds": self.stream_seconds,
                "predict_seconds": self.predict_seconds,
                "docs_per_second": self.docs_per_second,
            },
            "created": self.created,
            "bonepick_version": __version__,
        }
        if command:
            record["command"] = command
        return record

    def save(self, command: dict[str, Any] | None = None, path: str | Path | None = None) -> Path:
        return write_results(path or self.results_path, self.record(command))


def _value_groups(values: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """For scalar tasks: which of the sorted label names (values or decile edges) a value falls in."""
    edges = np.array([float(n) for n in names], dtype=np.float64)
    return np.clip(np.searchsorted(edges, values, side="right") - 1, 0, max(len(edges) - 1, 0))


def effective_card(card: ModelCard, options: EvalOptions) -> ModelCard:
    """The card with the user's overrides applied (expressions, normalizer, max length)."""
    changes: dict[str, Any] = {}
    if options.text_expression:
        changes["text_expression"] = options.text_expression
    if options.label_expression:
        changes["label_expression"] = options.label_expression
    if options.normalizer is not None:
        name = options.normalizer.strip()
        if name.lower() in ("", "none"):
            changes["normalizer"] = None
        else:
            from bonepick.data.normalizers import canonical_name

            changes["normalizer"] = canonical_name(name)
    if options.max_length is not None:
        if options.max_length < 0:
            raise UsageError(f"--max-length must be positive (0 to keep all text), got {options.max_length}")
        changes["max_length"] = options.max_length or None
    return dataclasses.replace(card, **changes) if changes else card


_SCALARS = (str, int, float, bool)


class _LabelEncoder:
    """Turns a row's label value into what the metrics need, with file:line errors."""

    def __init__(self, card: ModelCard) -> None:
        self.task = card.task
        self.labels = [str(label) for label in card.labels]
        self.index = {label: i for i, label in enumerate(self.labels)}
        self._cache: dict[tuple[type, Any], tuple[Any, Any]] = {}
        if self.task in ("classification", "multilabel") and not self.labels:
            raise ModelError(
                "the model card lists no labels",
                hint="the card's 'labels' gives the order of predict() columns",
            )

    def _class(self, value: Any, path: Path, line: int) -> int:
        name = label_to_str(value)
        if name not in self.index and name.startswith(FASTTEXT_PREFIX):
            name = name[len(FASTTEXT_PREFIX) :]
        if name not in self.index:
            known = ", ".join(self.labels[:10]) + (", ..." if len(self.labels) > 10 else "")
            raise DataError(
                f"label '{name}' is not one the model was trained on ({known})",
                path,
                line,
                hint="check --label-expression, or evaluate on data with the model's labels",
            )
        return self.index[name]

    def encode_batch(
        self, values: Sequence[Any], paths: Sequence[Path], lines: Sequence[int]
    ) -> tuple[list[Any], list[Any]]:
        """:meth:`encode` for every row; a class label seen before is looked up, not re-encoded."""
        if self.task != "classification":
            pairs = [self.encode(v, p, n) for v, p, n in zip(values, paths, lines, strict=True)]
            return [pair[0] for pair in pairs], [pair[1] for pair in pairs]
        try:  # the common case: every value a class name (a fastText file, a string label field)
            index = self.index
            encoded = [index[value] for value in values if value.__class__ is str]
        except KeyError:
            pass
        else:
            if len(encoded) == len(values):
                return encoded, list(values)  # a class name is its own canonical label
        cache = self._cache
        encoded = []
        canonical: list[Any] = []
        for value, path, line in zip(values, paths, lines, strict=True):
            # 1, 1.0, True and "1" are told apart by their type
            key = (value.__class__, value) if value.__class__ in _SCALARS else None
            hit = cache.get(key) if key is not None else None
            if hit is None:
                hit = self.encode(value, path, line)
                if key is not None:
                    cache[key] = hit
            encoded.append(hit[0])
            canonical.append(hit[1])
        return encoded, canonical

    def encode(self, value: Any, path: Path, line: int) -> tuple[Any, Any]:
        """(encoded label, canonical label for the signature)."""
        if self.task == "classification":
            if isinstance(value, list) and len(value) == 1:
                value = value[0]
            i = self._class(value, path, line)
            return i, self.labels[i]
        if self.task == "multilabel":
            if isinstance(value, dict):
                names = [k for k, v in value.items() if v and (not isinstance(v, int | float) or v >= 0.5)]
            elif isinstance(value, list):
                names = value
            else:
                names = [value]
            row = np.zeros(len(self.labels), dtype=np.int8)
            for name in names:
                row[self._class(name, path, line)] = 1
            return row, sorted(self.labels[i] for i in np.flatnonzero(row))
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise DataError(
                f"label {value!r} is not a number (a {self.task} model needs numeric labels)",
                path,
                line,
                hint="check --label-expression",
            ) from None
        if not np.isfinite(number):
            raise DataError(f"label {value!r} is not a finite number", path, line)
        return number, label_to_str(number)  # "1" like the class name "1": same rows, same signature


@dataclass
class _Batch:
    """Consecutive rows, all prepared (fastText files) or all raw (shards)."""

    prepared: bool
    paths: list[Path] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)


def _source_blocks(
    source: Source, text_expr: Expression, label_expr: Expression, size: int
) -> Iterator[tuple[list[int], list[str], list[Any], int]]:
    """(line numbers, texts, label values, bytes) of up to ``size`` consecutive rows of one file."""
    path = source.path
    if source.format == "fasttext":
        for numbers, labels, texts, chars in iter_fasttext_blocks(path, size):
            yield numbers, texts, labels, chars
        return
    # a block of lines is parsed with one orjson call per line in a list comprehension; a
    # one-level field (".text") is read straight from the rows, and a value that is missing or of
    # the wrong type goes through the expression (and its file:line errors); a block with a blank
    # or malformed line is read line by line, which names the line that is wrong
    text_key, label_key = text_expr.field, label_expr.field
    loads = orjson.loads
    with reading_errors(path), open_binary_reader(path) as stream:
        first = 1
        while block := list(islice(stream, size)):
            numbers = list(range(first, first + len(block)))
            first += len(block)
            if text_key and label_key and not any(map(bytes.isspace, block)):
                # the usual block: each row reduced to its two fields as it is parsed (no block
                # of parsed rows kept alive); anything else goes through the general path below
                try:
                    pairs = [(row.get(text_key), row.get(label_key)) for row in map(loads, block)]
                except (orjson.JSONDecodeError, AttributeError):
                    pairs = None
                if pairs:
                    texts, values = map(list, zip(*pairs, strict=True))
                    if not set(map(type, texts)) - {str} and None not in values:
                        yield numbers, texts, values, sum(map(len, block))
                        continue
            try:
                rows = None if any(map(bytes.isspace, block)) else list(map(loads, block))
            except orjson.JSONDecodeError:
                rows = None
            if rows is None or any(row.__class__ is not dict for row in rows):
                kept = [(n, raw) for n, raw in zip(numbers, block, strict=True) if not raw.isspace()]
                numbers, block = [n for n, _ in kept], [raw for _, raw in kept]
                rows = [parse_line(raw, path, n) for n, raw in kept]  # raises naming file:line
            texts = [row.get(text_key) for row in rows] if text_key else [None] * len(rows)
            values = [row.get(label_key) for row in rows] if label_key else [None] * len(rows)
            if set(map(type, texts)) - {str}:
                texts = [
                    text if text.__class__ is str else text_expr.text(row, path, n)
                    for text, row, n in zip(texts, rows, numbers, strict=True)
                ]
            if None in values:
                values = [
                    label_expr.first(row, path, n) if value is None else value
                    for value, row, n in zip(values, rows, numbers, strict=True)
                ]
            if rows:
                yield numbers, texts, values, sum(map(len, block))


def _iter_batches(
    sources: Sequence[Source],
    text_expr: Expression,
    label_expr: Expression,
    batch_size: int,
    progress: ProgressSink,
) -> Iterator[_Batch]:
    """Every row, shard by shard, in batches of at most ``batch_size`` (a batch ends early where
    the files switch between prepared and raw text)."""
    batch: _Batch | None = None
    for source in sources:
        prepared = source.format == "fasttext"
        if batch is not None and batch.prepared != prepared:
            if batch.texts:
                yield batch
            batch = None
        if batch is None:
            batch = _Batch(prepared)
        path = source.path
        for numbers, texts, values, nbytes in _source_blocks(source, text_expr, label_expr, batch_size):
            progress.rows(len(numbers), nbytes)
            start = 0
            while start < len(numbers):
                end = start + batch_size - len(batch.texts)
                batch.paths.extend([path] * len(numbers[start:end]))
                batch.lines.extend(numbers[start:end])
                batch.texts.extend(texts[start:end])
                batch.values.extend(values[start:end])
                start = end
                if len(batch.texts) >= batch_size:
                    yield batch
                    batch = _Batch(prepared)
        progress.shard_done()
    if batch is not None and batch.texts:
        yield batch


def evaluate_model(
    model_dir: str | Path,
    dataset_dirs: Sequence[str | Path],
    options: EvalOptions | None = None,
    *,
    card: ModelCard | None = None,
    model: Classifier | None = None,
    progress: ProgressSink | None = None,
) -> Evaluation:
    """Score the test split(s) with the model and compute the metrics its task calls for.

    ``card`` replaces the folder's own card (for a model file trained elsewhere); ``model`` is an
    already loaded model of that folder (it is then not loaded again); the options' overrides
    are applied on top of the card. Texts are prepared here from the effective card, so an
    override of the normalizer or max length applies to a given model too.
    """
    from bonepick.models.base import load_model

    options = options or EvalOptions()
    if options.batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {options.batch_size}")
    model_dir = Path(model_dir)
    started = time.perf_counter()
    card = effective_card(card or (model.card if model else ModelCard.load(model_dir)), options)
    sources = resolve_sources(dataset_dirs, options.split)
    encoder = _LabelEncoder(card)
    text_expr = Expression(card.text_expression)
    label_expr = Expression(card.label_expression)
    if model is None:
        model = load_model(model_dir, card)
    preparer = model.text_preparer(card.normalizer, card.max_length)
    load_seconds = time.perf_counter() - started
    if progress is None:
        from bonepick.pipeline.progress import NullProgress

        progress = NullProgress()

    signature = Signature()
    truth: list[Any] = []
    chunks: list[np.ndarray] = []
    predict_seconds = 0.0

    progress.start(f"eval {model_dir.name}", len(sources))
    stream_started = time.perf_counter()
    try:
        for batch in _iter_batches(sources, text_expr, label_expr, options.batch_size, progress):
            encoded, canonical = encoder.encode_batch(batch.values, batch.paths, batch.lines)
            truth.extend(encoded)
            signature.add_batch(batch.texts, canonical)
            t0 = time.perf_counter()
            if batch.prepared:
                out = _predict(model, batch.texts, lines=True)
            else:
                out = _predict(model, preparer.batch(batch.texts))
            predict_seconds += time.perf_counter() - t0
            chunks.append(_checked(out, len(batch.texts), card))
    finally:
        progress.stop()
    stream_seconds = time.perf_counter() - stream_started

    if not truth:
        where = ", ".join(str(d) for d in dataset_dirs)
        raise DataError(f"the {options.split} split of {where} has no rows", hint="nothing to evaluate")
    predictions = np.concatenate(chunks)
    if card.task == "multilabel":
        truth_arr = np.stack(truth).astype(np.int64)
    elif card.is_scalar:
        truth_arr = np.asarray(truth, dtype=np.float64)
    else:
        truth_arr = np.asarray(truth, dtype=np.int64)
    labels, metrics = compute_metrics(card, truth_arr, predictions, options.n_bins)
    return Evaluation(
        model_dir=model_dir,
        card=card,
        sources=sources,
        dataset_dirs=[Path(d) for d in dataset_dirs],
        options=options,
        labels=labels,
        truth=truth_arr,
        predictions=predictions,
        signature=signature.hexdigest(),
        metrics=metrics,
        seconds=time.perf_counter() - started,
        load_seconds=load_seconds,
        stream_seconds=stream_seconds,
        predict_seconds=predict_seconds,
    )


def _predict(model: Classifier, prepared: list[str], lines: bool = False) -> np.ndarray:
    """The model's predictions; ``lines``: the texts are lines of a fastText file, which a
    fastText model reads as they are (``predict_fasttext_lines``), any other as prepared text."""
    predict = getattr(model, "predict_fasttext_lines", None) if lines else None
    out = (predict or model.predict_prepared)(prepared)
    return np.asarray(out, dtype=np.float32)


def _checked(out: np.ndarray, n: int, card: ModelCard) -> np.ndarray:
    """The batch's predictions, after checking their shape against the card."""
    if card.is_scalar:
        if out.ndim == 2 and out.shape[1] == 1:
            out = out.reshape(n)
        if out.shape != (n,):
            raise ModelError(f"a {card.task} model should give one score per text, got shape {out.shape}")
        return out
    if out.shape != (n, len(card.labels)):
        raise ModelError(
            f"the model gave predictions of shape {out.shape} for {n} texts and {len(card.labels)} labels",
            hint="the card's labels must match the model's outputs",
        )
    return out


def compute_metrics(
    card: ModelCard, truth: np.ndarray, predictions: np.ndarray, n_bins: int = 10
) -> tuple[list[str], dict[str, Any]]:
    """(label names, metrics) for the model's task."""
    if card.is_scalar:
        distinct = np.unique(truth)
        if len(distinct) <= M.MAX_THRESHOLDS:
            names = [M.threshold_name(v) for v in distinct]
        else:
            names = [M.threshold_name(v) for v in [distinct[0], *M.label_thresholds(truth)]]
        result = {"task": card.task, **M.scalar_metrics(predictions, truth, n_bins)}
        result["per_label"] = M.score_summary(predictions, _value_groups(truth, names), names)
        if card.task == "ranking":
            result["note"] = "ranking scores are not on the label scale: read the correlations and AUCs"
        return names, result
    labels = [str(label) for label in card.labels]
    if card.task == "multilabel":
        return labels, {"task": card.task, **M.multilabel_metrics(truth, predictions, labels)}
    return labels, {"task": card.task, **M.classification_metrics(truth, predictions, labels, n_bins)}
