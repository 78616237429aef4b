"""``annotation-summary``: how an annotated dataset scored, per split: the mean (and spread) of every
numeric output field, the distribution of the overall score, and the share of Poor / Low / Medium /
Good documents (bucket thresholds from the prompt, or given by the user).

Shards are read in parallel, each reduced to sums and counts, so memory does not grow with the data.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bonepick.annotate.prompts import Buckets, Prompt
from bonepick.errors import UsageError
from bonepick.io.atomic import atomic_write_text
from bonepick.io.dataset import discover_datasets, source_tags
from bonepick.io.jsonl import iter_rows_sized
from bonepick.pipeline import LocalExecutor, ProgressSink, ShardStats, ShardTask, Step


@dataclass
class FieldStats:
    count: int = 0
    total: float = 0.0
    squares: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.squares += value * value
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)

    def merge(self, other: FieldStats) -> None:
        self.count += other.count
        self.total += other.total
        self.squares += other.squares
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else math.nan

    @property
    def std(self) -> float:
        if self.count < 2:
            return 0.0 if self.count else math.nan
        variance = (self.squares - self.total * self.total / self.count) / (self.count - 1)
        return math.sqrt(max(0.0, variance))


@dataclass
class SplitSummary:
    rows: int = 0
    annotated: int = 0
    failed: int = 0
    missing: int = 0
    fields: dict[str, FieldStats] = field(default_factory=dict)
    buckets: Counter = field(default_factory=Counter)
    values: Counter = field(default_factory=Counter)

    def merge(self, other: SplitSummary) -> None:
        self.rows += other.rows
        self.annotated += other.annotated
        self.failed += other.failed
        self.missing += other.missing
        for name, stats in other.fields.items():
            self.fields.setdefault(name, FieldStats()).merge(stats)
        self.buckets.update(other.buckets)
        self.values.update(other.values)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


class SummaryStep(Step):
    """Reduces one shard to a :class:`SplitSummary` (nothing is written)."""

    name = "annotation-summary"
    resumable = False

    def __init__(
        self, field_name: str, numeric_fields: Sequence[str], score: str | None, buckets: Buckets | None
    ):
        self.field_name = field_name
        self.numeric_fields = list(numeric_fields)
        self.score = score
        self.buckets = buckets

    def run(self, task: ShardTask, stats: ShardStats) -> SplitSummary:
        summary = SplitSummary()
        for _line, row, size in iter_rows_sized(task.input):
            stats.read(1, size)
            summary.rows += 1
            if self.field_name not in row:
                summary.missing += 1
                continue
            record = row[self.field_name]
            if not isinstance(record, dict):
                summary.failed += 1
                continue
            summary.annotated += 1
            for name in self.numeric_fields:
                value = _number(record.get(name))
                if value is not None:
                    summary.fields.setdefault(name, FieldStats()).add(value)
            if self.score is not None:
                score = record.get(self.score)
                number = _number(score)
                summary.values[_label(score)] += 1
                if self.buckets is not None and number is not None:
                    summary.buckets[self.buckets.name_of(number)] += 1
        return summary


def _label(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).lower() if isinstance(value, bool) else str(value)


@dataclass
class AnnotationSummary:
    prompt: str
    field_name: str
    score: str | None
    buckets: Buckets | None
    splits: dict[str, SplitSummary]

    @property
    def total(self) -> SplitSummary:
        total = SplitSummary()
        for summary in self.splits.values():
            total.merge(summary)
        return total

    def csv_text(self) -> str:
        """One table: per split (and ``all``), the rows of each numeric field, bucket and score value."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["split", "kind", "name", "count", "share", "mean", "std", "min", "max"])
        sections = (
            [*sorted(self.splits.items()), ("all", self.total)]
            if len(self.splits) > 1
            else list(self.splits.items())
        )
        for split, summary in sections:
            writer.writerow(
                [
                    split,
                    "rows",
                    "annotated",
                    summary.annotated,
                    _share(summary.annotated, summary.rows),
                    "",
                    "",
                    "",
                    "",
                ]
            )
            writer.writerow(
                [
                    split,
                    "rows",
                    "failed",
                    summary.failed,
                    _share(summary.failed, summary.rows),
                    "",
                    "",
                    "",
                    "",
                ]
            )
            writer.writerow(
                [
                    split,
                    "rows",
                    "missing",
                    summary.missing,
                    _share(summary.missing, summary.rows),
                    "",
                    "",
                    "",
                    "",
                ]
            )
            for name, stats in summary.fields.items():
                writer.writerow(
                    [
                        split,
                        "field",
                        name,
                        stats.count,
                        "",
                        _fmt(stats.mean),
                        _fmt(stats.std),
                        _fmt(stats.minimum),
                        _fmt(stats.maximum),
                    ]
                )
            if self.buckets is not None:
                scored = sum(summary.buckets.values())
                for name in self.buckets.names:
                    count = summary.buckets.get(name, 0)
                    writer.writerow([split, "bucket", name, count, _share(count, scored), "", "", "", ""])
            scored = sum(summary.values.values())
            for value, count in sorted(summary.values.items(), key=lambda kv: _sort_key(kv[0])):
                writer.writerow([split, "value", value, count, _share(count, scored), "", "", "", ""])
        return buffer.getvalue()


def _sort_key(value: str) -> tuple[int, float, str]:
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


def _share(count: int, total: int) -> str:
    return f"{count / total:.4f}" if total else ""


def _fmt(value: float) -> str:
    return "" if math.isnan(value) or math.isinf(value) else f"{value:.4f}"


def summarize_annotations(
    inputs: Sequence[Path],
    prompt: Prompt,
    *,
    field_name: str | None = None,
    buckets: Buckets | None = None,
    num_proc: int | None = 1,
    csv_path: Path | None = None,
    progress: ProgressSink | None = None,
) -> AnnotationSummary:
    buckets = buckets or prompt.default_buckets()
    if buckets is None and prompt.score is not None and prompt.score_is_numeric:
        raise UsageError(
            f"prompt '{prompt.name}' gives no score range for buckets", hint="pass --buckets T1,T2,T3"
        )
    field_name = field_name or prompt.name
    datasets = discover_datasets(inputs)
    tags = source_tags([d.root for d in datasets])
    tasks: list[ShardTask] = []
    for dataset, tag in zip(datasets, tags, strict=True):
        for split, shards in dataset.splits.items():
            for shard in shards:
                key = (
                    f"{tag}/{split}/{dataset.relative(split, shard)}"
                    if tag
                    else f"{split}/{dataset.relative(split, shard)}"
                )
                tasks.append(ShardTask(index=len(tasks), key=key, input=shard, split=split))
    if not tasks:
        raise UsageError("no shards found to summarize", hint="point -d at an annotated dataset folder")
    step = SummaryStep(
        field_name, prompt.numeric_fields(), prompt.score, buckets if prompt.score_is_numeric else None
    )
    run = LocalExecutor(num_proc, progress=progress).run(step, tasks, None, "summary")
    splits: dict[str, SplitSummary] = {}
    for result in run.results:
        splits.setdefault(result.task.split or "all", SplitSummary()).merge(result.result)
    summary = AnnotationSummary(prompt.name, field_name, prompt.score, step.buckets, splits)
    if sum(s.annotated + s.failed for s in splits.values()) == 0:
        raise UsageError(
            f"no row has the field '{field_name}'",
            hint="is this the output of annotate-dataset with this prompt? pass --field if it was renamed",
        )
    if csv_path is not None:
        atomic_write_text(csv_path, summary.csv_text())
    return summary


def parse_buckets(thresholds: str | None, names: str | None) -> Buckets | None:
    """``--buckets 1.5,2.5,3.5`` and ``--bucket-names Poor,Low,Medium,Good``."""
    if thresholds is None:
        if names is not None:
            raise UsageError("--bucket-names needs --buckets")
        return None
    try:
        values = tuple(float(t) for t in thresholds.split(",") if t.strip())
    except ValueError:
        raise UsageError(f"--buckets must be comma-separated numbers, got '{thresholds}'") from None
    if names is None:
        from bonepick.annotate.prompts import DEFAULT_BUCKET_NAMES

        labels = DEFAULT_BUCKET_NAMES if len(values) == 3 else tuple(f"b{i}" for i in range(len(values) + 1))
    else:
        labels = tuple(n.strip() for n in names.split(","))
    return Buckets(values, tuple(labels))
