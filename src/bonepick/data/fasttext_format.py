"""fastText's training format: one ``__label__<label> <text>`` line per document.

:func:`convert_to_fasttext` turns datasets into ``train.txt`` / ``valid.txt`` / ``test.txt``: each
input shard is converted in parallel into a part file, and the parts are concatenated in task
order, so the line order is the same for any number of processes. ``fasttext_conversion.yaml``
beside them records how the text was prepared and what labels came out, so a trainer can copy
it into the model card.

Text is made safe for the format by :func:`clean_text`: every whitespace run (newlines, tabs,
Unicode line separators, NUL) becomes one space, and a literal ``__label__`` inside the text is
defused, so a document can never spill onto a second line or smuggle in a label.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bonepick.data.expressions import Expression, label_to_str
from bonepick.data.labels import multi_labels, numeric_label, sort_labels
from bonepick.errors import DataError, UsageError
from bonepick.io.atomic import atomic_path, atomic_write_text
from bonepick.io.dataset import SPLIT_NAMES, discover_datasets
from bonepick.io.jsonl import iter_rows_sized
from bonepick.pipeline import LocalExecutor, ProgressSink, RunSummary, ShardStats, ShardTask, Step
from bonepick.pipeline.executor import STATE_DIR
from bonepick.pipeline.settings import settings_path

LABEL_PREFIX = "__label__"
REPORT_FILE = "fasttext_conversion.yaml"
DEFAULT_NORMALIZER = "whitespace"
_SPACE = re.compile(r"[\s\x00]+")
_LABEL_COUNT = "label="
BATCH_ROWS = 512


def clean_text(text: str) -> str:
    """Text that fits on one fastText line: whitespace runs -> one space, ends stripped, and no
    ``__label__`` left anywhere in it (each occurrence loses its two leading underscores)."""
    if "\x00" in text:
        text = text.replace("\x00", " ")
    text = " ".join(text.split())  # str.split() splits on exactly the characters \s matches
    while LABEL_PREFIX in text:
        text = text.replace(LABEL_PREFIX, "label__")
    return text


def clean_label(value: Any, path: str | Path | None = None, line: int | None = None) -> str:
    """A label as one fastText token: whitespace inside becomes ``_``; empty is an error."""
    label = _SPACE.sub("_", label_to_str(value).strip())
    if not label:
        raise DataError("empty label", path, line, hint="every row needs a non-empty label")
    return label


def format_line(labels: Sequence[str], text: str) -> str:
    """``__label__a [__label__b ...] text`` (no newline)."""
    return " ".join(LABEL_PREFIX + label for label in labels) + " " + text


def parse_line(line: str) -> tuple[list[str], str]:
    """The labels and text of one fastText line (the inverse of :func:`format_line`)."""
    labels: list[str] = []
    rest = line.rstrip("\n")
    while rest.startswith(LABEL_PREFIX):
        token, _, rest = rest.partition(" ")
        labels.append(token[len(LABEL_PREFIX) :])
    return labels, rest


@dataclass
class AutoBins:
    """Equal-count bins of a numeric label, computed on train.

    Every distinct train value falls wholly into one bin (so a value shared by many rows makes a
    single-value bin); a value goes to the bin its middle rank falls in, and empty bins are
    dropped. Bins are labelled ``0``..``k-1`` in increasing order. A value outside the train
    values goes to the first bin whose upper edge is at or above it (the last bin if none).
    """

    bins: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def fit(cls, value_counts: dict[float, int], num_bins: int) -> AutoBins:
        if num_bins < 1:
            raise UsageError(f"--auto must be at least 1, got {num_bins}")
        total = sum(value_counts.values())
        if total == 0:
            raise UsageError("--auto needs numeric labels in train, but train has no rows")
        grouped: dict[int, list[tuple[float, int]]] = {}
        seen = 0
        for value in sorted(value_counts):
            count = value_counts[value]
            middle = seen + count / 2
            index = min(num_bins - 1, int(num_bins * middle / total))
            grouped.setdefault(index, []).append((value, count))
            seen += count
        bins = []
        for new_index, old_index in enumerate(sorted(grouped)):
            members = grouped[old_index]
            bins.append(
                {
                    "label": str(new_index),
                    "min": members[0][0],
                    "max": members[-1][0],
                    "count": sum(c for _, c in members),
                    "distinct_values": len(members),
                }
            )
        return cls(bins)

    @property
    def labels(self) -> list[str]:
        return [b["label"] for b in self.bins]

    def assign(self, value: float) -> str:
        uppers = [b["max"] for b in self.bins]
        index = min(bisect_left(uppers, value), len(self.bins) - 1)
        return self.bins[index]["label"]

    def describe(self) -> list[str]:
        """One line per bin, e.g. ``0: [0, 11]`` or ``2: [13] (single value)``."""
        lines = []
        for b in self.bins:
            if b["min"] == b["max"]:
                span = f"[{_num(b['min'])}] (single value)"
            else:
                span = f"[{_num(b['min'])}, {_num(b['max'])}]"
            lines.append(f"{b['label']}: {span}")
        return lines

    def to_list(self) -> list[dict[str, Any]]:
        return [dict(b) for b in self.bins]


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


class LabelValuesStep(Step):
    """Pass 1 of ``--auto``: the distinct numeric label values of a shard and their counts."""

    name = "collect labels"
    resumable = False

    def __init__(self, label_expression: str) -> None:
        self.label_expression = Expression(label_expression)

    def run(self, task: ShardTask, stats: ShardStats) -> dict[float, int]:
        counts: Counter[float] = Counter()
        for line, row, size in iter_rows_sized(task.input):
            stats.read(1, size)
            value = self.label_expression.first(row, task.input, line)
            counts[numeric_label(value, task.input, line)] += 1
        return dict(counts)


class ConvertStep(Step):
    """Converts one shard into a part file of fastText lines (label counts go to the stats)."""

    name = "convert"

    def __init__(
        self,
        text_expression: str,
        label_expression: str,
        normalizer: str | None,
        max_length: int | None,
        multi_label: bool,
        bins: AutoBins | None,
    ) -> None:
        self.text_expression = Expression(text_expression)
        self.label_expression = Expression(label_expression)
        self.normalizer = normalizer
        self.max_length = max_length
        self.multi_label = multi_label
        self.bins = bins
        self._preparer: Any = None
        self._label_cache: dict[tuple[type, Any], list[str]] = {}

    def setup(self) -> None:
        from bonepick.data.preprocess import TextPreparer

        self._preparer = TextPreparer(self.normalizer, self.max_length)

    def _labels(self, value: Any, path: Path, line: int) -> list[str]:
        if self.bins is not None:
            return [self.bins.assign(numeric_label(value, path, line))]
        if self.multi_label:
            return [clean_label(v, path, line) for v in multi_labels(value, path, line)]
        if isinstance(value, dict | list):
            raise DataError(
                f"label is a {type(value).__name__}; pass --multi-label for dict or list labels",
                path,
                line,
            )
        key = (type(value), value)
        cached = self._label_cache.get(key)
        if cached is None:
            cached = self._label_cache[key] = [clean_label(value, path, line)]
        return cached

    def run(self, task: ShardTask, stats: ShardStats) -> None:
        assert task.output is not None
        if self._preparer is None:
            self.setup()
        with atomic_path(task.output) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as sink:
            batch: list[tuple[list[str], str]] = []
            for line, row, size in iter_rows_sized(task.input):
                stats.read(1, size)
                text = self.text_expression.text(row, task.input, line)
                value = self.label_expression.first(row, task.input, line, required=not self.multi_label)
                batch.append((self._labels(value, task.input, line), text))
                if len(batch) >= BATCH_ROWS:
                    self._flush(batch, sink, stats)
                    batch = []
            self._flush(batch, sink, stats)

    def _flush(self, batch: list[tuple[list[str], str]], sink: Any, stats: ShardStats) -> None:
        if not batch:
            return
        prepared = self._preparer.batch([text for _, text in batch])
        lines = []
        for (labels, _), text in zip(batch, prepared, strict=True):
            text = clean_text(text)
            if not labels:
                stats.skip("no labels")
                continue
            if not text:
                stats.skip("empty text")
                continue
            lines.append(format_line(labels, text))
            for label in labels:
                stats.add(_LABEL_COUNT + label, 1)
        if lines:
            sink.write("\n".join(lines) + "\n")
            stats.wrote(len(lines))


@dataclass
class ConversionResult:
    summary: RunSummary
    report: dict[str, Any]
    files: dict[str, Path]
    bins: AutoBins | None


def label_counts(stats: ShardStats) -> dict[str, int]:
    counts = {k[len(_LABEL_COUNT) :]: int(v) for k, v in stats.extra.items() if k.startswith(_LABEL_COUNT)}
    return {label: counts[label] for label in sort_labels(counts)}


def convert_to_fasttext(
    inputs: Sequence[Path],
    output_dir: Path,
    *,
    text_expression: str = ".text",
    label_expression: str = ".label",
    normalizer: str | None = DEFAULT_NORMALIZER,
    max_length: int | None = None,
    auto_bins: int | None = None,
    multi_label: bool = False,
    num_proc: int | None = None,
    overwrite: bool = False,
    progress: ProgressSink | None = None,
) -> ConversionResult:
    """Convert datasets to ``<output_dir>/{train,valid,test}.txt`` plus ``fasttext_conversion.yaml``."""
    if auto_bins is not None and multi_label:
        raise UsageError("--auto and --multi-label cannot be combined")
    if max_length is not None and max_length < 1:
        raise UsageError(f"--max-length must be at least 1, got {max_length}")
    if normalizer:
        from bonepick.data.normalizers import canonical_name

        normalizer = canonical_name(normalizer)
    datasets = discover_datasets(inputs)
    output_dir = Path(output_dir)
    parts_root = output_dir / STATE_DIR / "parts"
    tasks: list[ShardTask] = []
    for split in SPLIT_NAMES:
        for dataset in datasets:
            for shard in dataset.shards(split):
                key = f"{split}/{len(tasks):05d}"
                tasks.append(
                    ShardTask(
                        index=len(tasks), key=key, input=shard, output=parts_root / f"{key}.txt", split=split
                    )
                )
    if not any(t.split == "train" for t in tasks):
        raise UsageError(
            "no train shards found in " + ", ".join(str(p) for p in inputs),
            hint="point -i at a dataset folder with a train/ split (or a folder of shards)",
        )
    executor = LocalExecutor(num_proc, overwrite=overwrite, progress=progress)
    bins = None
    if auto_bins is not None:
        train_tasks = [t for t in tasks if t.split == "train"]
        values = executor.run(LabelValuesStep(label_expression), train_tasks, None, "collect train labels")
        merged: Counter[float] = Counter()
        for shard_counts in values.values():
            merged.update(shard_counts)
        bins = AutoBins.fit(dict(merged), auto_bins)
    step = ConvertStep(text_expression, label_expression, normalizer, max_length, multi_label, bins)
    settings = {
        "inputs": list(inputs),
        "text_expression": text_expression,
        "label_expression": label_expression,
        "normalizer": normalizer,
        "max_length": max_length,
        "auto_bins": auto_bins,
        "multi_label": multi_label,
    }
    summary = executor.run(step, tasks, output_dir, "convert to fastText", settings=settings)

    files: dict[str, Path] = {}
    for split in SPLIT_NAMES:
        parts = [t.output for t in tasks if t.split == split and t.output is not None]
        target = output_dir / f"{split}.txt"
        if not parts:
            target.unlink(missing_ok=True)  # a stale file from an earlier run would mislead
            continue
        with atomic_path(target) as tmp, open(tmp, "wb") as sink:
            for part in parts:
                with open(part, "rb") as source:
                    shutil.copyfileobj(source, sink, 1 << 20)
        files[split] = target
    shutil.rmtree(parts_root, ignore_errors=True)
    shutil.rmtree(output_dir / STATE_DIR / "done", ignore_errors=True)
    settings_path(output_dir, "convert-settings").unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        (output_dir / STATE_DIR).rmdir()  # only when nothing else lives there

    by_split = summary.by_split()
    counts = {split: label_counts(by_split[split]) for split in SPLIT_NAMES if split in by_split}
    all_labels = sort_labels(
        {label for c in counts.values() for label in c} | set(bins.labels if bins else [])
    )
    report: dict[str, Any] = {
        "format": "fasttext",
        "normalizer": normalizer or None,
        "max_length": max_length,
        "text_expression": text_expression,
        "label_expression": label_expression,
        "multi_label": multi_label,
        "labels": all_labels,
        "counts": counts,
        "rows": {
            split: {
                "in": by_split[split].rows_in,
                "out": by_split[split].rows_out,
                "skipped": dict(sorted(by_split[split].skipped.items())),
            }
            for split in SPLIT_NAMES
            if split in by_split
        },
        "auto_bins": bins.to_list() if bins else None,
        "files": {split: path.name for split, path in files.items()},
        "inputs": [str(p) for p in inputs],
    }
    atomic_write_text(output_dir / REPORT_FILE, yaml.safe_dump(report, sort_keys=False, allow_unicode=True))
    return ConversionResult(summary=summary, report=report, files=files, bins=bins)


def read_report(output_dir: str | Path) -> dict[str, Any]:
    """The ``fasttext_conversion.yaml`` of a converted folder."""
    path = Path(output_dir) / REPORT_FILE
    if not path.is_file():
        raise UsageError(
            f"{output_dir} has no {REPORT_FILE}",
            hint="make the folder with `bonepick convert-to-fasttext`",
        )
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
