"""Exact label balancing: every label of a split keeps exactly as many rows as its rarest label.

Pass 1 counts labels per shard (in parallel) and spills each row's label code; then, per
(split, label), the rows with the smallest seeded keys are kept, exactly ``min count`` of them;
pass 2 writes them shard by shard, in their original order and byte for byte. The choice
depends only on the seed and the data, never on the number of processes, and no more than one
shard's worth of rows is in memory at a time.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bonepick.data.labels import sort_labels
from bonepick.data.scan import KeepPlan, KeepStep, ScanResult, ScanStep, spill_paths, sweep_chunks
from bonepick.data.selection import find_thresholds, read_spill
from bonepick.errors import UsageError
from bonepick.io.dataset import SPLIT_NAMES, discover_datasets, normalize_split_name
from bonepick.pipeline import LocalExecutor, ProgressSink, RunSummary
from bonepick.pipeline.executor import STATE_DIR
from bonepick.pipeline.tasks import plan_mirrored_tasks

DEFAULT_SPLITS = ("train",)


@dataclass
class BalanceResult:
    summary: RunSummary
    #: split -> label -> (rows before, rows kept), for the balanced splits
    labels: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)
    copied_splits: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "balanced": {
                split: {label: {"before": b, "after": a} for label, (b, a) in labels.items()}
                for split, labels in self.labels.items()
            },
            "copied_unchanged": self.copied_splits,
        }


def parse_splits(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return list(DEFAULT_SPLITS)
    items = value.split(",") if isinstance(value, str) else [p for v in value for p in v.split(",")]
    splits = [normalize_split_name(s) for s in items if s.strip()]
    if not splits:
        raise UsageError("--splits is empty", hint="for example --splits train,valid")
    return list(dict.fromkeys(splits))


def balance_dataset(
    inputs: Sequence[Path],
    output_dir: Path,
    *,
    label_expression: str = ".label",
    seed: int = 42,
    splits: Sequence[str] = DEFAULT_SPLITS,
    compression_level: int | None = None,
    num_proc: int | None = None,
    overwrite: bool = False,
    progress: ProgressSink | None = None,
) -> BalanceResult:
    """Balance ``splits`` (others are copied unchanged) of ``inputs`` into ``output_dir``."""
    output_dir = Path(output_dir)
    datasets = discover_datasets(inputs)
    tasks = plan_mirrored_tasks(datasets, output_dir)
    balanced = [t for t in tasks if t.split in splits]
    if not balanced:
        raise UsageError(
            f"nothing to balance: no {'/'.join(splits)} shards in " + ", ".join(map(str, inputs)),
            hint="check the folder, or choose the splits with --splits",
        )
    executor = LocalExecutor(num_proc, overwrite=overwrite, progress=progress)
    spill_root = output_dir / STATE_DIR / "balance-scan"
    shutil.rmtree(spill_root, ignore_errors=True)
    with executor:  # workers started once for both passes
        try:
            scan = executor.run(ScanStep(spill_root, label_expression), balanced, None, "count labels")
            scans: dict[int, ScanResult] = {r.task.index: r.result for r in scan.results}

            # global group ids: one per (split, label)
            group_of: dict[tuple[str, str], int] = {}
            totals: dict[tuple[str, str], int] = {}
            for task in balanced:
                result = scans[task.index]
                for label, count in zip(result.labels, result.label_counts, strict=True):
                    key = (task.split or "train", label)
                    group_of.setdefault(key, len(group_of))
                    totals[key] = totals.get(key, 0) + count
            target = {}
            for split in {s for s, _ in group_of}:
                target[split] = min(n for (s, _), n in totals.items() if s == split)
            budgets = [target[split] for (split, _label) in group_of]
            local_to_group = {
                task.index: np.array(
                    [group_of[(task.split or "train", label)] for label in scans[task.index].labels],
                    dtype=np.int64,
                )
                for task in balanced
            }

            def groups_of(task):
                mapping = local_to_group[task.index]
                codes = read_spill(spill_paths(spill_root, task)[1])
                return (
                    mapping[np.asarray(codes, dtype=np.int64)] if len(codes) else np.zeros(0, dtype=np.int64)
                )

            rows = {index: result.rows for index, result in scans.items()}
            thresholds = find_thresholds(
                lambda: sweep_chunks(seed, balanced, rows, groups_of), budgets, len(group_of)
            )

            plans: dict[str, KeepPlan] = {}
            for task in balanced:
                mapping = local_to_group[task.index]
                plans[task.key] = KeepPlan(
                    thresholds=[thresholds[g] for g in mapping.tolist()] or [thresholds[0]],
                    labels_spill=spill_paths(spill_root, task)[1],
                    expected_rows=scans[task.index].rows,
                    sizes_spill=spill_paths(spill_root, task)[0] if scans[task.index].clean else None,
                )
            keep = KeepStep(seed, plans, "balanced away")
            keep.compression_level = compression_level
            settings = {
                "inputs": list(inputs),
                "label_expression": label_expression,
                "seed": seed,
                "splits": list(splits),
                "compression_level": compression_level,
            }
            summary = executor.run(keep, tasks, output_dir, "balance", settings=settings)
        finally:
            shutil.rmtree(spill_root, ignore_errors=True)

    labels: dict[str, dict[str, tuple[int, int]]] = {}
    for split in SPLIT_NAMES:
        names = sort_labels(label for s, label in group_of if s == split)
        if names:
            labels[split] = {name: (totals[(split, name)], target[split]) for name in names}
    copied = sorted({t.split or "train" for t in tasks if t.split not in splits})
    return BalanceResult(summary=summary, labels=labels, copied_splits=copied)
