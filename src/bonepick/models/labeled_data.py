"""Read (text, label) pairs from bonepick datasets for training: several folders concatenated,
texts prepared with the shared :class:`~bonepick.data.preprocess.TextPreparer`, labels parsed for
the task (one class, several classes, or a number), shards read in parallel and in order."""

from __future__ import annotations

import math
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bonepick.data.expressions import Expression, label_to_str
from bonepick.errors import DataError
from bonepick.io import discover_datasets, iter_rows

LABEL_KINDS = ("single", "multi", "number")


@dataclass
class LabeledTexts:
    texts: list[str]
    labels: list[Any]  # str (single), list[str] (multi) or float (number)

    def __len__(self) -> int:
        return len(self.texts)

    def take(self, indices: Sequence[int] | np.ndarray) -> LabeledTexts:
        return LabeledTexts([self.texts[i] for i in indices], [self.labels[i] for i in indices])


def parse_label(value: Any, kind: str, source: str, path: Path, line: int) -> Any:
    if kind == "single":
        if isinstance(value, list | dict):
            raise DataError(
                f"label expression '{source}' gave a {type(value).__name__}, expected one class",
                path,
                line,
                hint="pass --multi-label for several labels per row, or fix --label-expression",
            )
        return label_to_str(value)
    if kind == "multi":
        values = value if isinstance(value, list) else [value]
        if any(isinstance(v, list | dict) or v is None for v in values):
            raise DataError(f"label expression '{source}' gave a nested or null label: {value!r}", path, line)
        return sorted({label_to_str(v) for v in values})
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise DataError(
            f"label expression '{source}' gave {value!r}, expected a number",
            path,
            line,
            hint="regression and ranking need numeric labels; map classes to numbers in --label-expression",
        )
    try:
        number = float(value)
    except ValueError:
        raise DataError(
            f"label expression '{source}' gave '{value}', expected a number",
            path,
            line,
            hint="regression and ranking need numeric labels; map classes to numbers in --label-expression, "
            "e.g. 'if .label == \"spam\" then 0 else 1 end'",
        ) from None
    if not math.isfinite(number):
        raise DataError(f"label expression '{source}' gave a non-finite number ({value})", path, line)
    return number


def _read_shard(args: tuple[str, str, str, str, str | None, int | None]) -> tuple[list[str], list[Any]]:
    path_text, text_source, label_source, kind, normalizer, max_length = args
    from bonepick.data.preprocess import TextPreparer

    path = Path(path_text)
    text_expression = Expression(text_source)
    label_expression = Expression(label_source)
    texts: list[str] = []
    labels: list[Any] = []
    for line, row in iter_rows(path):
        texts.append(text_expression.text(row, path, line))
        labels.append(parse_label(label_expression.first(row, path, line), kind, label_source, path, line))
    if normalizer or max_length:
        texts = TextPreparer(normalizer, max_length).batch(texts)
    return texts, labels


def shards_of(dataset_dirs: Sequence[Path], split: str) -> list[Path]:
    return [shard for dataset in discover_datasets(dataset_dirs) for shard in dataset.shards(split)]


def has_split(dataset_dirs: Sequence[Path], split: str) -> bool:
    """True when every dataset folder has the split (flat folders count as train only)."""
    return all(split in dataset.splits for dataset in discover_datasets(dataset_dirs))


def read_labeled(
    dataset_dirs: Sequence[Path],
    split: str,
    *,
    text_expression: str = ".text",
    label_expression: str = ".label",
    kind: str = "single",
    normalizer: str | None = None,
    max_length: int | None = None,
    num_proc: int | None = 1,
) -> LabeledTexts:
    """All rows of ``split`` in every folder, in folder then shard order (whatever ``num_proc`` is)."""
    Expression(text_expression)  # fail fast on a bad expression, before any worker starts
    Expression(label_expression)
    if normalizer:
        from bonepick.data.normalizers import canonical_name

        canonical_name(normalizer)
    shards = shards_of(dataset_dirs, split)
    jobs = [(str(s), text_expression, label_expression, kind, normalizer, max_length) for s in shards]
    workers = min(num_proc or os.cpu_count() or 1, len(jobs))
    texts: list[str] = []
    labels: list[Any] = []
    if workers <= 1:
        parts = map(_read_shard, jobs)
        for shard_texts, shard_labels in parts:
            texts += shard_texts
            labels += shard_labels
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            for shard_texts, shard_labels in pool.map(_read_shard, jobs):  # map keeps shard order
                texts += shard_texts
                labels += shard_labels
    return LabeledTexts(texts, labels)


def holdout_split(
    labels: Sequence[Any], fraction: float, seed: int, stratify: bool = True, cap: int = 10_000
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (train, valid) index arrays; stratified by label when every label occurs twice or more."""
    n = len(labels)
    n_valid = min(max(1, round(n * fraction)), cap, n - 1)
    rng = np.random.default_rng(seed)
    keys = [label if not isinstance(label, list) else "|".join(label) for label in labels]
    groups: dict[Any, list[int]] = {}
    for index, key in enumerate(keys):
        groups.setdefault(key, []).append(index)
    if not stratify or len(groups) > n_valid or min(len(g) for g in groups.values()) < 2:
        order = rng.permutation(n)
        return np.sort(order[n_valid:]), np.sort(order[:n_valid])
    train: list[np.ndarray] = []
    valid: list[np.ndarray] = []
    for key in sorted(groups, key=str):
        members = rng.permutation(np.asarray(groups[key]))
        take = min(len(members) - 1, max(1, round(len(members) * n_valid / n)))
        valid.append(members[:take])
        train.append(members[take:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(valid))
