"""How labels are distributed per split: counts, percentages, cumulative percentages.

``label_type`` says how to order and group the labels:

* ``text``: categories, most frequent first;
* ``ordinal``: ordered levels (1..5, or names), in increasing order, so the cumulative column
  reads "this level or below";
* ``value``: continuous numbers, grouped into ``bins`` equal-width ranges between the smallest
  and largest value seen.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bonepick.data.expressions import Expression, label_to_str
from bonepick.data.labels import numeric_label, sort_labels
from bonepick.errors import DataError, UsageError
from bonepick.io.dataset import SPLIT_NAMES, discover_datasets
from bonepick.io.jsonl import iter_rows_sized
from bonepick.pipeline import LocalExecutor, ProgressSink, RunSummary, ShardStats, ShardTask, Step

LABEL_TYPES = ("text", "ordinal", "value")


class LabelCountStep(Step):
    name = "count labels"
    resumable = False

    def __init__(self, label_expression: str, numeric: bool) -> None:
        self.label_expression = Expression(label_expression)
        self.numeric = numeric

    def run(self, task: ShardTask, stats: ShardStats) -> dict[Any, int]:
        counts: Counter = Counter()
        for line, row, size in iter_rows_sized(task.input):
            stats.read(1, size)
            value = self.label_expression.first(row, task.input, line, required=False)
            if isinstance(value, dict | list):
                raise DataError(
                    f"label expression '{self.label_expression.source}' gave a {type(value).__name__}",
                    task.input,
                    line,
                    hint="pick one field with -l, e.g. -l '.labels.quality'",
                )
            if self.numeric:
                counts[numeric_label(value, task.input, line)] += 1
            else:
                counts["(missing)" if value is None else label_to_str(value)] += 1
        return dict(counts)


@dataclass
class Distribution:
    summary: RunSummary
    label_type: str
    splits: list[str]
    labels: list[str]  # row names, in display order
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> label -> count

    def table_rows(self) -> list[list[Any]]:
        """label, then count / percent / cumulative percent for each split."""
        rows = []
        running = dict.fromkeys(self.splits, 0)
        totals = {s: sum(self.counts[s].values()) for s in self.splits}
        for label in self.labels:
            row: list[Any] = [label]
            for split in self.splits:
                n = self.counts[split].get(label, 0)
                running[split] += n
                total = totals[split] or 1
                row += [n, f"{100 * n / total:.2f}%", f"{100 * running[split] / total:.2f}%"]
            rows.append(row)
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "label_type": self.label_type,
            "labels": self.labels,
            "counts": {
                s: {label: self.counts[s].get(label, 0) for label in self.labels} for s in self.splits
            },
        }

    def plot(self, path: Path) -> Path:
        """A grouped bar chart of the percentage of each label per split, as PNG."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        x = np.arange(len(self.labels))
        width = 0.8 / max(1, len(self.splits))
        fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(self.labels) + 2), 4.5))
        for i, split in enumerate(self.splits):
            total = sum(self.counts[split].values()) or 1
            heights = [100 * self.counts[split].get(label, 0) / total for label in self.labels]
            ax.bar(x + (i - (len(self.splits) - 1) / 2) * width, heights, width, label=split)
        ax.set_xticks(x)
        ax.set_xticklabels(self.labels, rotation=45 if len(self.labels) > 6 else 0, ha="right")
        ax.set_ylabel("% of rows in split")
        ax.set_title(f"label distribution ({self.label_type})")
        ax.legend()
        fig.tight_layout()
        from bonepick.io.atomic import atomic_path

        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=120)
        plt.close(fig)
        return path


def _value_bins(values: Sequence[float], bins: int) -> tuple[list[str], Any]:
    low, high = min(values), max(values)
    if low == high:
        name = f"[{low:g}, {high:g}]"
        return [name], lambda v: name
    width = (high - low) / bins
    edges = [low + i * width for i in range(bins)] + [high]
    names = [f"[{edges[i]:.4g}, {edges[i + 1]:.4g}" + ("]" if i == bins - 1 else ")") for i in range(bins)]

    def assign(value: float) -> str:
        return names[min(bins - 1, int(math.floor((value - low) / width)))]

    return names, assign


def label_distribution(
    dataset_dirs: Sequence[Path],
    *,
    label_expression: str = ".label",
    label_type: str = "text",
    bins: int = 10,
    num_proc: int | None = None,
    progress: ProgressSink | None = None,
) -> Distribution:
    if label_type not in LABEL_TYPES:
        raise UsageError(f"unknown --label-type '{label_type}'", hint=f"use one of: {', '.join(LABEL_TYPES)}")
    if bins < 1:
        raise UsageError(f"--bins must be at least 1, got {bins}")
    datasets = discover_datasets(dataset_dirs)
    tasks = [
        ShardTask(index=i, key=str(shard), input=shard, split=split)
        for i, (split, shard) in enumerate(
            (split, shard) for d in datasets for split in SPLIT_NAMES for shard in d.shards(split)
        )
    ]
    if not tasks:
        raise UsageError("no shards found in " + ", ".join(map(str, dataset_dirs)))
    step = LabelCountStep(label_expression, numeric=label_type == "value")
    summary = LocalExecutor(num_proc, progress=progress).run(step, tasks, None, "count labels")
    raw: dict[str, Counter] = {}
    for result in summary.results:
        raw.setdefault(result.task.split or "train", Counter()).update(result.result)
    splits = [s for s in SPLIT_NAMES if s in raw]
    if label_type == "value":
        values = [v for c in raw.values() for v in c]
        names, assign = _value_bins(values, bins) if values else ([], None)
        counts = {}
        for split in splits:
            grouped: Counter = Counter()
            for value, n in raw[split].items():
                grouped[assign(value)] += n
            counts[split] = dict(grouped)
        labels = names
    else:
        counts = {s: dict(raw[s]) for s in splits}
        if label_type == "ordinal":
            labels = sort_labels({label for c in counts.values() for label in c})
        else:
            overall: Counter = Counter()
            for c in counts.values():
                overall.update(c)
            labels = [label for label, _ in sorted(overall.items(), key=lambda item: (-item[1], item[0]))]
    return Distribution(summary=summary, label_type=label_type, splits=splits, labels=labels, counts=counts)
