"""How far to trust the labels: agreement between two or more annotators matched on a key.

Reading keeps only a ``key -> label samples`` map per annotator (texts are not kept); the
disagreement examples are fetched in a second, targeted pass over the data. Metrics come from
scikit-learn, scipy, statsmodels (Fleiss' kappa) and the ``krippendorff`` package; this module only
chooses what to feed them and explains, in words, when a metric is undefined.

Label handling, in order:

* the label expression may yield one value, a list of values, or several outputs: each is a
  *sample* (``annotate-dataset --samples N`` keeps every raw sample);
* rows whose expression yields nothing or only nulls are counted as "no label", not used;
* a key seen on several rows of one annotator is a *duplicate*: with ``duplicates="aggregate"`` the
  samples of all its rows are pooled, with ``"first"`` the first row wins, with ``"error"`` the run
  stops naming both lines; duplicates are counted either way;
* each key's samples are then aggregated (``majority`` with ties going to the mean of the samples,
  or for text labels to the tied label seen first; ``mean``, ``min``, ``max``).
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bonepick.data.expressions import Expression, label_to_str
from bonepick.errors import DataError, UsageError

AGGREGATIONS = ("majority", "mean", "min", "max")
DUPLICATE_POLICIES = ("aggregate", "first", "error")
#: above this many distinct labels a confusion matrix is not shown or stored
MAX_CONFUSION_LABELS = 30
#: above this many distinct labels the distribution table turns into summary statistics
MAX_DISTRIBUTION_LABELS = 30

Label = float | str
#: (file, line) of a row, for error messages
Where = tuple[str, int]


# --------------------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class AnnotatorSpec:
    """One annotator: a dataset folder and how to read its key and label."""

    name: str
    root: Path
    label_expression: str
    key_expression: str = ".id"


@dataclass
class AgreementConfig:
    annotators: list[AnnotatorSpec]
    ordinal: bool = False
    threshold: float | None = None
    aggregate: str = "majority"
    duplicates: str = "aggregate"
    splits: tuple[str, ...] | None = None
    show_disagreements: int = 0
    text_expression: str = ".text"
    snippet_chars: int = 240
    seed: int = 0
    num_proc: int = 1

    def validate(self) -> None:
        if len(self.annotators) < 2:
            raise UsageError(
                f"annotation agreement needs at least two annotators, got {len(self.annotators)}",
                hint="pass -d once per annotator (the same folder twice with two -l compares two fields)",
            )
        names = [a.name for a in self.annotators]
        if len(set(names)) != len(names):
            raise UsageError(f"annotator names must be distinct, got {names}", hint="set them with -n/--name")
        if self.aggregate not in AGGREGATIONS:
            raise UsageError(
                f"unknown --aggregate '{self.aggregate}'", hint=f"use one of {', '.join(AGGREGATIONS)}"
            )
        if self.duplicates not in DUPLICATE_POLICIES:
            raise UsageError(
                f"unknown --duplicates '{self.duplicates}'",
                hint=f"use one of {', '.join(DUPLICATE_POLICIES)}",
            )
        if self.show_disagreements < 0:
            raise UsageError(f"--show-disagreements must be 0 or more, got {self.show_disagreements}")
        if self.snippet_chars < 1:
            raise UsageError(f"--snippet-chars must be at least 1, got {self.snippet_chars}")
        if self.threshold is not None and not math.isfinite(self.threshold):
            raise UsageError(f"--threshold must be a finite number, got {self.threshold}")
        for spec in self.annotators:  # compile early: a bad expression fails before any reading
            Expression(spec.label_expression)
            Expression(spec.key_expression)
        if self.show_disagreements:
            Expression(self.text_expression)

    @property
    def numeric_required(self) -> bool:
        """Labels must be numbers when scores are compared as numbers or averaged."""
        return self.ordinal or self.threshold is not None or self.aggregate in ("mean", "min", "max")


def annotator_names(roots: Sequence[Path], label_expressions: Sequence[str]) -> list[str]:
    """Short distinct names: folder names, else label expressions (same folder, two fields), else
    indexed folder names."""
    folders = [Path(r).resolve().name or "data" for r in roots]
    if len(set(folders)) == len(folders):
        return folders
    labels = [e.strip().lstrip(".") or e for e in label_expressions]
    if len(set(labels)) == len(labels):
        return labels
    return [f"{i + 1}_{name}" for i, name in enumerate(folders)]


def broadcast(values: Sequence[str], count: int, flag: str) -> list[str]:
    """One value for all annotators, or one per annotator (in the order of -d)."""
    if len(values) == 1:
        return list(values) * count
    if len(values) == count:
        return list(values)
    raise UsageError(
        f"{flag} was given {len(values)} times for {count} datasets",
        hint=f"give {flag} once (it applies to every -d) or once per -d, in the same order",
    )


# -------------------------------------------------------------------------------------------- reading


def key_to_str(value: Any) -> str:
    """Keys compare as strings: ``7`` and ``"7"`` are the same row; objects by their sorted JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return label_to_str(value)
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode("utf-8")


def to_number(value: Any) -> float | None:
    """A label as a number (``True`` is 1, ``"3"`` is 3), or None when it is not one."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def label_samples(
    values: list[Any], numeric: bool, path: str | Path | None = None, line: int | None = None
) -> list[Label]:
    """Flatten what a label expression yielded into samples: numbers as floats, the rest as strings."""
    flat: list[Any] = []
    for value in values:
        if isinstance(value, list):
            flat.extend(value)
        else:
            flat.append(value)
    samples: list[Label] = []
    for value in flat:
        if value is None:
            continue
        if isinstance(value, dict | list):
            raise DataError(
                f"the label expression gave {type(value).__name__} {orjson.dumps(value).decode()[:80]}",
                path,
                line,
                hint="point -l at the label or score itself, e.g. '.annotation.score'",
            )
        if numeric:
            number = to_number(value)
            if number is None:
                raise DataError(
                    f"label {value!r} is not a number",
                    path,
                    line,
                    hint="--ordinal, --threshold and --aggregate mean|min|max need numeric labels",
                )
            samples.append(number)
        elif isinstance(value, bool):
            samples.append(label_to_str(value))
        elif isinstance(value, int | float):
            samples.append(float(value))
        else:
            samples.append(_shared(str(value)))
    return samples


_SHARED: dict[str, str] = {}


def _shared(label: str) -> str:
    """One string object per distinct label (a million "informative" cost one), while labels are few."""
    found = _SHARED.get(label)
    if found is not None:
        return found
    if len(_SHARED) < 10_000:
        _SHARED[label] = label
    return label


def aggregate_samples(samples: Sequence[Label], how: str) -> Label:
    """One label from several samples.

    ``majority`` takes the most frequent sample; a tie goes to the mean of all samples when they are
    numbers (so [2, 2, 4, 4] gives 3), or to the tied label seen first when they are text.
    """
    if not samples:
        raise ValueError("no samples to aggregate")
    if len(samples) == 1:
        return samples[0]
    numeric = all(isinstance(s, float) for s in samples)
    if how == "majority":
        values = list(samples) if numeric else [label_to_str(s) for s in samples]
        counts = Counter(values)
        top = max(counts.values())
        tied = [v for v in dict.fromkeys(values) if counts[v] == top]
        if len(tied) == 1:
            return tied[0]
        if numeric:
            return float(sum(samples) / len(samples))  # type: ignore[arg-type]
        return tied[0]
    if not numeric:
        raise UsageError(f"--aggregate {how} needs numeric labels, got {list(samples)!r}")
    if how == "mean":
        return float(sum(samples) / len(samples))  # type: ignore[arg-type]
    if how == "min":
        return min(samples)  # type: ignore[type-var]
    if how == "max":
        return max(samples)  # type: ignore[type-var]
    raise UsageError(f"unknown aggregation '{how}'", hint=f"use one of {', '.join(AGGREGATIONS)}")


@dataclass
class LabelTable:
    """The samples of one annotator per key, with what was seen while reading.

    A key with one sample holds the bare label (no list), which keeps the map small."""

    duplicates: str = "aggregate"
    samples: dict[str, Label | list[Label]] = field(default_factory=dict)
    rows_per_duplicate: dict[str, int] = field(default_factory=dict)
    locations: dict[str, Where] = field(default_factory=dict)  # only with duplicates == "error"
    rows: int = 0
    no_label: int = 0
    several_samples: int = 0

    def add(self, key: str, samples: list[Label], where: Where) -> None:
        self.rows += 1
        if not samples:
            self.no_label += 1
            return
        if len(samples) > 1:
            self.several_samples += 1
        if key not in self.samples:
            self.samples[key] = samples[0] if len(samples) == 1 else samples
            if self.duplicates == "error":
                self.locations[key] = where
            return
        self._duplicate(key, samples, 1, where)

    def _duplicate(self, key: str, samples: Label | list[Label], rows: int, where: Where) -> None:
        if self.duplicates == "error":
            first = self.locations.get(key)
            raise DataError(
                f"key {key!r} appears again (first at {first[0]}:{first[1]})"
                if first
                else f"key {key!r} appears again",
                where[0],
                where[1],
                hint="pick a unique key with -k, or pass --duplicates aggregate|first",
            )
        self.rows_per_duplicate[key] = self.rows_per_duplicate.get(key, 1) + rows
        if self.duplicates == "aggregate":
            self.samples[key] = self.samples_of(key) + (samples if isinstance(samples, list) else [samples])

    def samples_of(self, key: str) -> list[Label]:
        held = self.samples[key]
        return list(held) if isinstance(held, list) else [held]

    def merge(self, other: LabelTable) -> None:
        """Add a later shard's table (same policy), as if its rows had been read here."""
        self.rows += other.rows
        self.no_label += other.no_label
        self.several_samples += other.several_samples
        for key, samples in other.samples.items():
            rows = other.rows_per_duplicate.get(key, 1)
            if key in self.samples:
                self._duplicate(key, samples, rows, other.locations.get(key, ("?", 0)))
            else:
                self.samples[key] = samples
                if rows > 1:
                    self.rows_per_duplicate[key] = rows
                if self.duplicates == "error":
                    self.locations[key] = other.locations[key]

    def aggregated(self, how: str) -> dict[str, Label]:
        """One label per key; the sample lists are released as they are aggregated."""
        labels: dict[str, Label] = {}
        for key, held in self.samples.items():
            labels[key] = aggregate_samples(held, how) if isinstance(held, list) else held
        self.samples = {}
        return labels


@dataclass
class AnnotatorLabels:
    """One annotator after reading and aggregation."""

    spec: AnnotatorSpec
    labels: dict[str, Label]
    rows: int
    no_label: int
    several_samples: int
    duplicate_keys: int
    duplicate_rows: int
    shards: int

    @property
    def name(self) -> str:
        return self.spec.name


def _read_shard(
    path: str, key_source: str, label_sources: tuple[str, ...], numeric: bool, duplicates: str
) -> tuple[list[LabelTable], int]:
    """Read one shard for every label expression that shares this dataset and key."""
    key_expr = Expression(key_source)
    label_exprs = [Expression(s) for s in label_sources]
    tables = [LabelTable(duplicates=duplicates) for _ in label_exprs]
    from bonepick.io.jsonl import iter_rows_sized

    nbytes = 0
    for line, row, size in iter_rows_sized(path):
        nbytes += size
        raw_key = key_expr.first(row, path, line)
        key = key_to_str(raw_key)
        where = (path, line)
        for expr, table in zip(label_exprs, tables, strict=True):
            table.add(key, label_samples(expr.all(row, path, line), numeric, path, line), where)
    return tables, nbytes


def _shard_job(args: tuple) -> tuple[list[LabelTable], int]:
    return _read_shard(*args)


def dataset_shards(root: Path, splits: Sequence[str] | None) -> list[Path]:
    """Every shard of the dataset (all splits, or only ``splits``), in a fixed order."""
    from bonepick.io import SPLIT_NAMES, discover_dataset
    from bonepick.io.dataset import normalize_split_name

    dataset = discover_dataset(root)
    wanted = [normalize_split_name(s) for s in splits] if splits else list(SPLIT_NAMES)
    shards = [shard for split in wanted for shard in dataset.shards(split)]
    if not shards:
        which = f" in split(s) {', '.join(wanted)}" if splits else ""
        raise DataError(f"no .jsonl/.jsonl.gz/.jsonl.zst shards{which}", root, hint="check the -d folder")
    return shards


def read_annotators(config: AgreementConfig, progress: Any = None) -> list[AnnotatorLabels]:
    """Read every annotator's key -> label map. Annotators that share a folder and key expression
    are read in one pass. Shards are read in parallel with ``config.num_proc`` processes and merged
    in a fixed order, so the result does not depend on the process count."""
    from bonepick.pipeline.progress import NullProgress

    progress = progress or NullProgress()
    groups: dict[tuple[str, str], list[int]] = {}
    for index, spec in enumerate(config.annotators):
        groups.setdefault((str(Path(spec.root).resolve()), spec.key_expression), []).append(index)
    plans = []
    for (_root, key_source), members in groups.items():
        spec = config.annotators[members[0]]
        shards = dataset_shards(Path(spec.root), config.splits)
        labels = tuple(config.annotators[i].label_expression for i in members)
        plans.append((members, shards, key_source, labels))
    jobs = [
        (str(shard), key_source, labels, config.numeric_required, config.duplicates)
        for _members, shards, key_source, labels in plans
        for shard in shards
    ]
    owners = [members for members, shards, _key, _labels in plans for _shard in shards]
    merged: dict[int, LabelTable] = {}
    shard_counts: dict[int, int] = {}
    progress.start("reading annotations", len(jobs))
    try:
        # results arrive in job order whatever the process count; each is merged and dropped at once
        for members, (tables, _nbytes) in zip(
            owners, _run_jobs(jobs, config.num_proc, progress), strict=True
        ):
            for member, table in zip(members, tables, strict=True):
                if member in merged:
                    merged[member].merge(table)
                else:
                    merged[member] = table
                shard_counts[member] = shard_counts.get(member, 0) + 1
    finally:
        progress.stop()
    annotators = []
    for index, spec in enumerate(config.annotators):
        table = merged[index]
        labels = table.aggregated(config.aggregate)
        annotators.append(
            AnnotatorLabels(
                spec=spec,
                labels=labels,
                rows=table.rows,
                no_label=table.no_label,
                several_samples=table.several_samples,
                duplicate_keys=len(table.rows_per_duplicate),
                duplicate_rows=sum(n - 1 for n in table.rows_per_duplicate.values()),
                shards=shard_counts[index],
            )
        )
    return annotators


def _run_jobs(jobs: list[tuple], num_proc: int, progress: Any) -> Iterator[tuple[list[LabelTable], int]]:
    """Each job's result, in job order, read here or in ``num_proc`` spawned processes."""
    workers = max(1, min(num_proc, len(jobs)))
    if workers == 1:
        results: Iterable[tuple[list[LabelTable], int]] = map(_shard_job, jobs)
        for result in results:
            progress.rows(result[0][0].rows, result[1])
            progress.shard_done()
            yield result
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        for result in pool.map(_shard_job, jobs):
            progress.rows(result[0][0].rows, result[1])
            progress.shard_done()
            yield result


def collect_snippets(config: AgreementConfig, keys: set[str], progress: Any = None) -> dict[str, str]:
    """The text of each wanted key, cut to ``config.snippet_chars``: a second pass over the
    annotators' data (in -d order) that stops as soon as every key is found."""
    wanted = set(keys)
    found: dict[str, str] = {}
    text_expr = Expression(config.text_expression)
    seen_roots: set[tuple[str, str]] = set()
    for spec in config.annotators:
        ident = (str(Path(spec.root).resolve()), spec.key_expression)
        if ident in seen_roots:
            continue
        seen_roots.add(ident)
        key_expr = Expression(spec.key_expression)
        from bonepick.io import iter_rows

        for shard in dataset_shards(Path(spec.root), config.splits):
            for line, row in iter_rows(shard):
                key = key_to_str(key_expr.first(row, shard, line))
                if key not in wanted or key in found:
                    continue
                values = [v for v in text_expr.all(row, shard, line) if v is not None]
                if not values:
                    continue
                text = values[0] if isinstance(values[0], str) else orjson.dumps(values[0]).decode()
                found[key] = snippet(text, config.snippet_chars)
                if len(found) == len(wanted):
                    return found
    return found


def snippet(text: str, chars: int) -> str:
    """One line of at most ``chars`` characters (whitespace collapsed, an ellipsis when cut)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= chars else flat[: max(chars - 1, 0)].rstrip() + "…"


# -------------------------------------------------------------------------------------- pure metrics


def _clean(value: Any) -> float | None:
    """A metric as a plain float, or None when it came out NaN/inf."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _describe(value: Label) -> str:
    """A label's name: numbers to 6 decimals (a mean of three samples reads 2.333333)."""
    if type(value) is str:
        return value
    if isinstance(value, float):
        return label_to_str(round(value, 6))
    return label_to_str(value)


def sort_labels(values: Iterable[Label]) -> list[Label]:
    """Numbers by value, text alphabetically (numbers first when mixed)."""
    return sorted(set(values), key=lambda v: (0, v, "") if isinstance(v, float) else (1, 0.0, str(v)))


@dataclass
class Codebook:
    """Label names in a fixed order, and the integer code of every label value seen: the metrics
    work on code arrays, so a million rows cost a few numpy passes, not a million Python calls.
    Values with the same name (``1.0`` and ``"1"``) share a code."""

    names: list[str]
    code: dict[Label, int]

    @classmethod
    def build(cls, values: Iterable[Label]) -> Codebook:
        unique = set(values)
        named = {v: _describe(v) for v in unique}
        names = list(dict.fromkeys(named[v] for v in sort_labels(unique)))
        index = {name: i for i, name in enumerate(names)}
        return cls(names=names, code={v: index[named[v]] for v in unique})

    def encode(self, labels: Iterable[Label]) -> Any:
        import numpy as np

        code = self.code
        return np.fromiter((code[v] for v in labels), dtype=np.int64)


def nominal_codes(x: Any, y: Any, names: Sequence[str]) -> dict[str, Any]:
    """Exact agreement and Cohen's kappa (scikit-learn) from two code arrays over the same rows."""
    import numpy as np
    from sklearn.metrics import cohen_kappa_score

    n = len(x)
    result: dict[str, Any] = {"n": n, "agreement": None, "cohen_kappa": None, "notes": []}
    if n == 0:
        result["notes"].append("no rows in common")
        return result
    agree = int(np.sum(x == y))
    result["agreement"] = agree / n
    used = np.unique(np.concatenate([x, y]))
    if len(used) == 1:
        result["notes"].append(
            f"Cohen's kappa is undefined: both annotators gave all {n:,} rows the label '{names[used[0]]}', "
            "so chance agreement is already 1 and there is nothing to correct for"
        )
        return result
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result["cohen_kappa"] = _clean(cohen_kappa_score(x, y, labels=used.tolist()))
    if agree == n:
        result["notes"].append(f"perfect agreement on all {n:,} rows")
    for who, codes in (("first", x), ("second", y)):
        if np.all(codes == codes[0]):
            result["notes"].append(
                f"the {who} annotator used only the label '{names[codes[0]]}': kappa is at most 0 "
                "whatever the other does"
            )
    return result


def nominal_pair(a: Sequence[Label], b: Sequence[Label]) -> dict[str, Any]:
    """Exact agreement and Cohen's kappa for two annotators' labels over the same rows."""
    book = Codebook.build([*a, *b])
    return nominal_codes(book.encode(a), book.encode(b), book.names)


def ordinal_grid(values: Iterable[float]) -> tuple[list[float], bool]:
    """The ordered score scale that weights distances: whole numbers from min to max, or the
    finest regular step the scores sit on (halves, thirds... as means of several samples give),
    so quadratic weights follow score distance even for unused scores. Returns (scale, by_value);
    by_value is False when the scores fit no regular grid and the observed values, ranked, stand in."""
    unique = sorted({float(v) for v in values})
    low, high = unique[0], unique[-1]
    for denominator in range(1, 13):
        if all(abs(v * denominator - round(v * denominator)) < 1e-6 for v in unique):
            count = int(round((high - low) * denominator)) + 1
            if count > 1000:
                break
            start = round(low * denominator)
            return [(start + i) / denominator for i in range(count)], True
    return unique, False


def grid_codes(values: Any, grid: Sequence[float]) -> list[int]:
    """The position of each score on the scale (the nearest point, so float noise cannot miss)."""
    import numpy as np

    scale = np.asarray(grid, dtype=float)
    x = np.asarray(values, dtype=float)
    right = np.clip(np.searchsorted(scale, x), 0, len(scale) - 1)
    left = np.clip(right - 1, 0, len(scale) - 1)
    nearer_left = np.abs(x - scale[left]) < np.abs(x - scale[right])
    return np.where(nearer_left, left, right).astype(int).tolist()


def ordinal_pair(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """Quadratic-weighted kappa, MAE, RMSE, Pearson, Spearman and Kendall for numeric scores."""
    import numpy as np
    from scipy import stats
    from sklearn.metrics import cohen_kappa_score, mean_absolute_error, mean_squared_error

    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    n = len(x)
    result: dict[str, Any] = {
        "quadratic_kappa": None,
        "mae": None,
        "rmse": None,
        "pearson": None,
        "spearman": None,
        "kendall": None,
        "mean_difference": None,
        "notes": [],
    }
    if n == 0:
        return result
    result["mae"] = _clean(mean_absolute_error(x, y))
    result["rmse"] = _clean(math.sqrt(mean_squared_error(x, y)))
    result["mean_difference"] = _clean(float(np.mean(x - y)))
    grid, by_value = ordinal_grid(np.unique(np.concatenate([x, y])).tolist())
    if len(grid) == 1:
        result["notes"].append(
            f"quadratic-weighted kappa is undefined: every score is {label_to_str(grid[0])} for both annotators"
        )
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result["quadratic_kappa"] = _clean(
                cohen_kappa_score(
                    grid_codes(x, grid),
                    grid_codes(y, grid),
                    labels=list(range(len(grid))),
                    weights="quadratic",
                )
            )
        if not by_value:
            result["notes"].append(
                "scores fit no regular scale (whole, half, third... points): quadratic weights use the "
                "rank of each observed score"
            )
    constant = [
        f"{who} annotator gave every row the score {label_to_str(float(v[0]))}"
        for who, v in (("the first", x), ("the second", y))
        if np.all(v == v[0])
    ]
    if n < 2:
        result["notes"].append("correlations are undefined with fewer than 2 rows")
    elif constant:
        result["notes"].append("Pearson, Spearman and Kendall are undefined: " + " and ".join(constant))
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result["pearson"] = _clean(stats.pearsonr(x, y).statistic)
            result["spearman"] = _clean(stats.spearmanr(x, y).statistic)
            result["kendall"] = _clean(stats.kendalltau(x, y).statistic)
    return result


def threshold_pair(a: Sequence[float], b: Sequence[float], threshold: float) -> dict[str, Any]:
    """Do both annotators put a row on the same side of ``threshold`` (>= T versus < T)?"""
    import numpy as np
    from sklearn.metrics import cohen_kappa_score

    above_a = np.asarray(a, dtype=float) >= threshold
    above_b = np.asarray(b, dtype=float) >= threshold
    n = len(above_a)
    result: dict[str, Any] = {
        "threshold": threshold,
        "agreement": float(np.mean(above_a == above_b)) if n else None,
        "kappa": None,
        "share_above": [float(np.mean(above_a)), float(np.mean(above_b))] if n else [None, None],
        "notes": [],
    }
    if n and len(np.unique(np.concatenate([above_a, above_b]))) == 1:
        side = ">=" if above_a[0] else "<"
        result["notes"].append(
            f"threshold kappa is undefined: every score of both annotators is {side} {label_to_str(threshold)}"
        )
    elif n:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result["kappa"] = _clean(cohen_kappa_score(above_a, above_b))
    return result


def confusion_codes(x: Any, y: Any, names: Sequence[str]) -> dict[str, Any] | None:
    """Counts with the first annotator's labels as rows and the second's as columns (only labels
    each one used). None when either used more labels than a table can show."""
    import numpy as np
    from sklearn.metrics import confusion_matrix

    rows, columns = np.unique(x), np.unique(y)
    if max(len(rows), len(columns)) > MAX_CONFUSION_LABELS:
        return None
    both = np.union1d(rows, columns)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        matrix = confusion_matrix(x, y, labels=both.tolist())
    matrix = matrix[np.ix_(np.searchsorted(both, rows), np.searchsorted(both, columns))]
    return {
        "labels": [names[c] for c in rows.tolist()],
        "columns": [names[c] for c in columns.tolist()],
        "matrix": matrix.astype(int).tolist(),
    }


def confusion_scores(x: Any, y: Any) -> dict[str, Any] | None:
    """The confusion matrix of numeric scores; with more than a few distinct scores (means of
    samples) both sides are rounded to whole points first, and the result says so."""
    import numpy as np

    rounded = max(len(np.unique(x)), len(np.unique(y))) > MAX_EXACT_SCORES
    if rounded:
        x, y = np.floor(x + 0.5), np.floor(y + 0.5)
    book = Codebook.build([*np.unique(x).tolist(), *np.unique(y).tolist()])
    result = confusion_codes(book.encode(x.tolist()), book.encode(y.tolist()), book.names)
    if result is not None:
        result["rounded"] = rounded
    return result


def confusion(a: Sequence[Label], b: Sequence[Label]) -> dict[str, Any] | None:
    book = Codebook.build([*a, *b])
    return confusion_codes(book.encode(a), book.encode(b), book.names)


def fleiss_codes(matrix: Any, names: Sequence[str]) -> tuple[float | None, str | None]:
    """Fleiss' kappa (statsmodels) over a rows x annotators code matrix, every cell present."""
    import numpy as np
    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

    if len(matrix) == 0:
        return None, "Fleiss' kappa is undefined: no row is labelled by every annotator"
    used = np.unique(matrix)
    if len(used) == 1:
        return (
            None,
            f"Fleiss' kappa is undefined: every annotator gave every row the label '{names[used[0]]}'",
        )
    table, _ = aggregate_raters(np.searchsorted(used, matrix), n_cat=len(used))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _clean(fleiss_kappa(table, method="fleiss")), None


def fleiss(rows: Sequence[Sequence[Label]]) -> tuple[float | None, str | None]:
    """Fleiss' kappa over rows rated by every annotator, with a reason when undefined."""
    import numpy as np

    book = Codebook.build([v for row in rows for v in row])
    matrix = np.asarray([[book.code[v] for v in row] for row in rows], dtype=np.int64)
    return fleiss_codes(matrix, book.names)


def krippendorff_matrix(
    data: Any, level: str, names: Sequence[str] | None = None
) -> tuple[float | None, str | None]:
    """Krippendorff's alpha (the ``krippendorff`` package) over an annotators x rows float matrix,
    NaN = missing: codes for ``nominal`` (``names`` name them), scores for ordinal and interval.
    Rows rated by a single annotator carry no pairable value and drop out, as the method says."""
    import krippendorff
    import numpy as np

    domain = np.unique(data[~np.isnan(data)])
    if len(domain) < 2:
        if not len(domain):
            only = "nothing"
        elif names is not None:
            only = names[int(domain[0])]
        else:
            only = label_to_str(float(domain[0]))
        return None, f"Krippendorff's alpha ({level}) is undefined: the only label anyone used is '{only}'"
    if not np.any(np.sum(~np.isnan(data), axis=0) >= 2):
        return None, f"Krippendorff's alpha ({level}) is undefined: no row has two or more labels"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = krippendorff.alpha(data, value_domain=domain.tolist(), level_of_measurement=level)
    except ValueError as error:
        return None, f"Krippendorff's alpha ({level}) is undefined: {error}"
    return _clean(value), None


def krippendorff_alpha(
    columns: Sequence[Sequence[Label | None]], level: str
) -> tuple[float | None, str | None]:
    """Krippendorff's alpha over annotators x rows of labels, None = missing."""
    import numpy as np

    if level == "nominal":
        book = Codebook.build([v for column in columns for v in column if v is not None])
        data = np.asarray(
            [[np.nan if v is None else book.code[v] for v in column] for column in columns], dtype=float
        )
        return krippendorff_matrix(data, level, book.names)
    data = np.asarray(
        [[np.nan if v is None else float(v) for v in column] for column in columns], dtype=float
    )
    return krippendorff_matrix(data, level)


def numeric_summary(values: Any) -> dict[str, float]:
    import numpy as np

    x = np.asarray(values, dtype=float)
    if not len(x):
        return {}
    return {
        "mean": float(np.mean(x)),
        "std": float(np.std(x)),
        "min": float(np.min(x)),
        "median": float(np.median(x)),
        "max": float(np.max(x)),
    }


# --------------------------------------------------------------------------------------- the analysis


@dataclass
class AgreementResult:
    """The report (plain data, ready for YAML) and the encoded labels plotting and examples need.

    ``codes`` is annotators x keys (every key any annotator labelled, sorted), -1 where an
    annotator has no label; ``scores`` holds the same as numbers (NaN missing) when labels are numeric."""

    report: dict[str, Any]
    annotators: list[AnnotatorLabels]
    keys: list[str]
    names: list[str]
    codes: Any
    scores: Any | None

    @property
    def numeric(self) -> bool:
        return self.scores is not None

    @property
    def common(self) -> Any:
        """Mask of the keys every annotator labelled."""
        return (self.codes >= 0).all(axis=0)

    @property
    def common_keys(self) -> list[str]:
        import numpy as np

        return [self.keys[i] for i in np.flatnonzero(self.common)]

    def pair_mask(self, i: int, j: int) -> Any:
        return (self.codes[i] >= 0) & (self.codes[j] >= 0)

    def values(self, index: int, mask: Any | None = None) -> Any:
        """Scores (numeric labels) or codes of one annotator on the rows of ``mask`` (default: common)."""
        mask = self.common if mask is None else mask
        source = self.scores if self.scores is not None else self.codes
        return source[index][mask]


def _no_overlap_error(a: AnnotatorLabels, b: AnnotatorLabels) -> DataError:
    def sample(ann: AnnotatorLabels) -> str:
        keys = sorted(ann.labels)[:3]
        return ", ".join(repr(k) for k in keys) if keys else "no labelled rows"

    return DataError(
        f"annotators '{a.name}' and '{b.name}' share no key: nothing to compare "
        f"('{a.name}' keys look like {sample(a)}; '{b.name}' keys look like {sample(b)})",
        hint="check the -k key expressions (and -l: rows without a label are not compared)",
    )


def _counts(codes: Any, names: Sequence[str]) -> dict[str, int]:
    import numpy as np

    counts = np.bincount(codes, minlength=len(names))
    return {names[i]: int(c) for i, c in enumerate(counts) if c}


def encode_annotators(annotators: list[AnnotatorLabels]) -> tuple[list[str], Codebook, Any, Any | None]:
    """Sorted keys of every annotator, the shared codebook, the code matrix and the score matrix."""
    import numpy as np

    keys = sorted(set().union(*(a.labels.keys() for a in annotators)))
    book = Codebook.build(v for a in annotators for v in a.labels.values())
    code = {**book.code, None: -1}
    codes = np.vstack(
        [
            np.fromiter((code[a.labels.get(k)] for k in keys), dtype=np.int64, count=len(keys))
            for a in annotators
        ]
    )
    numeric = all(isinstance(v, float) for v in book.code)
    scores = None
    if numeric:
        nan = float("nan")
        scores = np.vstack(
            [
                np.fromiter((a.labels.get(k, nan) for k in keys), dtype=float, count=len(keys))  # type: ignore[misc]
                for a in annotators
            ]
        )
    return keys, book, codes, scores


def analyse(annotators: list[AnnotatorLabels], config: AgreementConfig) -> AgreementResult:
    """Every metric, from the key -> label maps. Raises DataError when a pair shares no key."""
    import numpy as np

    names = [a.name for a in annotators]
    keys, book, codes, scores = encode_annotators(annotators)
    present = codes >= 0
    count = len(annotators)
    for i in range(count):
        for j in range(i + 1, count):
            if not np.any(present[i] & present[j]):
                raise _no_overlap_error(annotators[i], annotators[j])
    if config.ordinal and scores is None:
        raise UsageError("--ordinal needs numeric labels")
    common = present.all(axis=0)
    n_common = int(common.sum())
    result = AgreementResult(
        report={}, annotators=annotators, keys=keys, names=book.names, codes=codes, scores=scores
    )

    notes: list[str] = []
    coverage_rows = []
    for index, ann in enumerate(annotators):
        others = np.delete(present, index, axis=0).any(axis=0)
        coverage_rows.append(
            {
                "name": ann.name,
                "path": str(ann.spec.root),
                "label_expression": ann.spec.label_expression,
                "key_expression": ann.spec.key_expression,
                "shards": ann.shards,
                "rows": ann.rows,
                "rows_without_label": ann.no_label,
                "rows_with_several_samples": ann.several_samples,
                "duplicate_keys": ann.duplicate_keys,
                "duplicate_rows": ann.duplicate_rows,
                "labelled_keys": int(present[index].sum()),
                "keys_only_here": int((present[index] & ~others).sum()),
                "keys_in_all": n_common,
            }
        )
        notes.extend(_reading_notes(ann, config))

    pairs = []
    for i in range(count):
        for j in range(i + 1, count):
            mask = present[i] & present[j]
            x, y = codes[i][mask], codes[j][mask]
            nominal = nominal_codes(x, y, book.names)
            pair: dict[str, Any] = {
                "a": names[i],
                "b": names[j],
                "n": nominal["n"],
                "only_a": int((present[i] & ~present[j]).sum()),
                "only_b": int((present[j] & ~present[i]).sum()),
                "agreement": nominal["agreement"],
                "cohen_kappa": nominal["cohen_kappa"],
            }
            pair_notes = list(nominal["notes"])
            if not np.intersect1d(x, y).size:
                pair_notes.append(
                    "the two annotators never use the same label: check that -l points at comparable fields"
                )
            if config.ordinal:
                ordinal = ordinal_pair(scores[i][mask], scores[j][mask])  # type: ignore[index]
                pair_notes.extend(ordinal.pop("notes"))
                pair.update(ordinal)
            if config.threshold is not None:
                thr = threshold_pair(scores[i][mask], scores[j][mask], config.threshold)  # type: ignore[index]
                pair_notes.extend(thr.pop("notes"))
                pair["threshold"] = thr
            if scores is not None:
                pair["confusion_matrix"] = confusion_scores(scores[i][mask], scores[j][mask])
            else:
                pair["confusion_matrix"] = confusion_codes(x, y, book.names)
            pair["notes"] = pair_notes
            pairs.append(pair)

    rows = codes[:, common].T  # common rows x annotators
    overall: dict[str, Any] = {"annotators": count, "keys_in_all": n_common, "keys_in_any": len(keys)}
    overall_notes: list[str] = []
    overall["all_agree"] = float(np.mean(np.all(rows == rows[:, :1], axis=1))) if n_common else None
    overall["mean_pairwise_agreement"] = sum(p["agreement"] for p in pairs) / len(pairs)
    if config.threshold is not None and n_common:
        above = scores[:, common] >= config.threshold  # type: ignore[index]
        overall["threshold_all_agree"] = float(np.mean(np.all(above == above[:1], axis=0)))
    if count >= 3:
        overall["fleiss_kappa"], why = fleiss_codes(rows, book.names)
        if why:
            overall_notes.append(why)
    nominal_data = np.where(present, codes, -1).astype(float)
    nominal_data[~present] = np.nan
    levels: list[tuple[str, Any]] = [("nominal", nominal_data)]
    if scores is not None:
        levels += [("ordinal", scores), ("interval", scores)]
    for level, data in levels:
        value, why = krippendorff_matrix(data, level, book.names if level == "nominal" else None)
        overall[f"krippendorff_alpha_{level}"] = value
        if why:
            overall_notes.append(why)
    if len(keys) > n_common:
        overall_notes.append(
            f"Krippendorff's alpha uses every row labelled by two or more annotators ({len(keys):,} keys in any); "
            f"the other overall figures use the {n_common:,} keys labelled by all"
        )
    if n_common and overall["all_agree"] == 1.0:
        overall_notes.append(f"perfect agreement: all annotators agree on all {n_common:,} common rows")
    overall["notes"] = overall_notes

    distribution: dict[str, Any] = {
        "labels": list(book.names),
        "common_rows": {names[i]: _counts(codes[i][common], book.names) for i in range(count)},
        "all_rows": {names[i]: _counts(codes[i][present[i]], book.names) for i in range(count)},
    }
    if scores is not None:
        distribution["summary_common_rows"] = {
            names[i]: numeric_summary(scores[i][common]) for i in range(count)
        }
    result.report = {
        "settings": {
            "ordinal": config.ordinal,
            "threshold": config.threshold,
            "aggregate": config.aggregate,
            "duplicates": config.duplicates,
            "splits": list(config.splits) if config.splits else "all",
            "labels_are_numeric": scores is not None,
        },
        "annotators": coverage_rows,
        "coverage": {
            "keys_in_all": n_common,
            "keys_in_any": len(keys),
            "pairs": [
                {"a": p["a"], "b": p["b"], "common": p["n"], "only_a": p["only_a"], "only_b": p["only_b"]}
                for p in pairs
            ],
        },
        "distribution": distribution,
        "pairs": pairs,
        "overall": overall,
        "notes": notes,
    }
    return result


def _reading_notes(ann: AnnotatorLabels, config: AgreementConfig) -> list[str]:
    """What happened to this annotator's rows on the way to one label per key, in words."""
    notes = []
    if ann.no_label:
        notes.append(
            f"{ann.name}: {ann.no_label:,} row(s) have no label (null or missing) and are not compared"
        )
    if ann.duplicate_keys:
        how = {
            "aggregate": f"their labels were pooled and aggregated ({config.aggregate})",
            "first": "the first row of each was kept",
        }[config.duplicates]
        notes.append(
            f"{ann.name}: {ann.duplicate_keys:,} key(s) appear on more than one row "
            f"({ann.duplicate_rows:,} extra row(s)); {how}"
        )
    if ann.several_samples:
        notes.append(
            f"{ann.name}: {ann.several_samples:,} row(s) carry several label samples, "
            f"aggregated with {config.aggregate}"
        )
    return notes


def pick_disagreements(result: AgreementResult, count: int, seed: int = 0) -> list[str]:
    """Keys of up to ``count`` common rows where annotators differ: the widest score spread first
    (numeric labels), then a seeded but stable shuffle, so the picks do not follow key order."""
    import numpy as np

    if count <= 0:
        return []
    common = result.common
    codes = result.codes[:, common]
    differing = np.flatnonzero(np.any(codes != codes[:1], axis=0))
    if result.scores is not None:
        block = result.scores[:, common][:, differing]
        spread = (block.max(axis=0) - block.min(axis=0)).tolist()
    else:
        spread = [0.0] * len(differing)
    common_index = np.flatnonzero(common)
    candidates = []
    for position, width in zip(differing.tolist(), spread, strict=True):
        key = result.keys[common_index[position]]
        digest = hashlib.blake2b(f"{seed}\0{key}".encode(), digest_size=8).hexdigest()
        candidates.append((-width, digest, key))
    return [key for _w, _d, key in sorted(candidates)[:count]]


def attach_disagreements(result: AgreementResult, keys: Sequence[str], snippets: dict[str, str]) -> None:
    result.report["disagreements"] = [
        {
            "key": key,
            "labels": {a.name: _describe(a.labels[key]) for a in result.annotators},
            "text": snippets.get(key),
        }
        for key in keys
    ]


def run_agreement(config: AgreementConfig, progress: Any = None) -> AgreementResult:
    """Read, match, measure and (when asked) fetch disagreement examples."""
    config.validate()
    annotators = read_annotators(config, progress)
    result = analyse(annotators, config)
    if config.show_disagreements:
        keys = pick_disagreements(result, config.show_disagreements, config.seed)
        snippets = collect_snippets(config, set(keys)) if keys else {}
        attach_disagreements(result, keys, snippets)
    return result


# ---------------------------------------------------------------------------------------------- files


def _yaml_ready(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {str(k): _yaml_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_yaml_ready(v) for v in value]
    return value


def write_yaml(report: dict[str, Any], path: Path, extra: dict[str, Any] | None = None) -> Path:
    import yaml

    from bonepick.io.atomic import atomic_write_text

    document = {**(extra or {}), **report}
    atomic_write_text(path, yaml.safe_dump(_yaml_ready(document), sort_keys=False, allow_unicode=True))
    return path


def fmt(value: Any) -> str:
    """How a metric reads in a table: 4 decimals, '-' when undefined."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


#: numeric labels with more distinct values than this are shown rounded to whole points
MAX_EXACT_SCORES = 12

Table = tuple[str, list[str], list[list[Any]]]


def summary_tables(report: dict[str, Any], ordinal: bool, threshold: float | None) -> list[Table]:
    """The report as (title, columns, rows) tables: the one source for the terminal, markdown and
    LaTeX. Tables stay narrow (at most about 7 columns) so they read in an 80-column terminal."""
    tables: list[Table] = [_coverage_table(report)]
    distribution_table = _distribution_table(report)
    if distribution_table:
        tables.append(distribution_table)
    dist = report["distribution"]
    names = [a["name"] for a in report["annotators"]]
    if "summary_common_rows" in dist:
        stats = ["mean", "std", "min", "median", "max"]
        tables.append(
            (
                "Scores on the rows labelled by all",
                ["statistic", *names],
                [[s] + [dist["summary_common_rows"][n].get(s) for n in names] for s in stats],
            )
        )
    columns = ["pair", "rows", "agreement", "Cohen κ"]
    if threshold is not None:
        columns += [f"agree @ {label_to_str(threshold)}", f"κ @ {label_to_str(threshold)}"]
    rows = []
    for p in report["pairs"]:
        row = [f"{p['a']} vs {p['b']}", p["n"], p["agreement"], p["cohen_kappa"]]
        if threshold is not None:
            row += [p["threshold"]["agreement"], p["threshold"]["kappa"]]
        rows.append(row)
    tables.append(("Pairwise agreement", columns, rows))
    if ordinal:
        tables.append(
            (
                "Pairwise score agreement",
                ["pair", "quadratic κ", "MAE", "RMSE", "Pearson", "Spearman", "Kendall"],
                [
                    [
                        f"{p['a']} vs {p['b']}",
                        p["quadratic_kappa"],
                        p["mae"],
                        p["rmse"],
                        p["pearson"],
                        p["spearman"],
                        p["kendall"],
                    ]
                    for p in report["pairs"]
                ],
            )
        )
    overall = report["overall"]
    overall_rows = [
        ["rows labelled by all", overall["keys_in_all"]],
        ["rows labelled by any", overall["keys_in_any"]],
        ["all annotators agree", overall["all_agree"]],
        ["mean pairwise agreement", overall["mean_pairwise_agreement"]],
    ]
    if "threshold_all_agree" in overall:
        overall_rows.append(
            [f"all on the same side of {label_to_str(threshold)}", overall["threshold_all_agree"]]
        )
    if "fleiss_kappa" in overall:
        overall_rows.append(["Fleiss κ", overall["fleiss_kappa"]])
    for level in ("nominal", "ordinal", "interval"):
        key = f"krippendorff_alpha_{level}"
        if key in overall:
            overall_rows.append([f"Krippendorff α ({level})", overall[key]])
    tables.append(("Overall", ["measure", "value"], overall_rows))
    return tables


def _coverage_table(report: dict[str, Any]) -> Table:
    return (
        "Coverage",
        ["annotator", "rows", "no label", "samples>1", "dup keys", "keys", "only here", "in all"],
        [
            [
                a["name"],
                a["rows"],
                a["rows_without_label"],
                a["rows_with_several_samples"],
                a["duplicate_keys"],
                a["labelled_keys"],
                a["keys_only_here"],
                a["keys_in_all"],
            ]
            for a in report["annotators"]
        ],
    )


def _distribution_table(report: dict[str, Any]) -> Table | None:
    """Counts per label side by side; numeric labels with many values (means of samples) are
    counted rounded to whole points, text labels with too many values are left to the YAML."""
    dist = report["distribution"]
    names = [a["name"] for a in report["annotators"]]
    counts: dict[str, dict[str, int]] = dist["common_rows"]
    labels: list[str] = dist["labels"]
    title = f"Label distribution on the {report['coverage']['keys_in_all']:,} rows labelled by all"
    if report["settings"]["labels_are_numeric"] and len(labels) > MAX_EXACT_SCORES:
        rounded: dict[str, Counter] = {n: Counter() for n in names}
        for n in names:
            for label, count in counts[n].items():
                rounded[n][label_to_str(float(math.floor(float(label) + 0.5)))] += count
        labels = [_describe(v) for v in sort_labels([float(k) for n in names for k in rounded[n]])]
        counts = {n: dict(rounded[n]) for n in names}
        title += " (scores rounded to whole points)"
    elif len(labels) > MAX_DISTRIBUTION_LABELS:
        return None
    totals = {n: sum(counts[n].values()) for n in names}

    def cell(n: str, label: str) -> str:
        count = counts[n].get(label, 0)
        return f"{count:,} ({count / totals[n]:.1%})" if totals[n] else "0"

    return (title, ["label", *names], [[label] + [cell(n, label) for n in names] for label in labels])


def confusion_tables(report: dict[str, Any]) -> list[Table]:
    tables = []
    for p in report["pairs"]:
        cm = p.get("confusion_matrix")
        if not cm:
            continue
        rounded = " (scores rounded to whole points)" if cm.get("rounded") else ""
        tables.append(
            (
                f"Confusion matrix: {p['a']} (rows) vs {p['b']} (columns){rounded}",
                [f"{p['a']} \\ {p['b']}", *cm["columns"]],
                [[label, *counts] for label, counts in zip(cm["labels"], cm["matrix"], strict=True)],
            )
        )
    return tables


def disagreement_table(report: dict[str, Any]) -> Table | None:
    items = report.get("disagreements")
    if items is None:
        return None
    names = [a["name"] for a in report["annotators"]]
    return (
        f"Disagreements ({len(items)} shown)",
        ["key", *names, "text"],
        [
            [
                d["key"],
                *[d["labels"][n] for n in names],
                d["text"] if d["text"] is not None else "(text not found)",
            ]
            for d in items
        ],
    )


def all_notes(report: dict[str, Any]) -> list[str]:
    notes = list(report["notes"])
    for p in report["pairs"]:
        notes += [f"{p['a']} vs {p['b']}: {n}" for n in p["notes"]]
    notes += report["overall"]["notes"]
    return notes


def numeric_columns(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[bool]:
    """Which columns hold only numbers (or '-'), so tables can right-align those and only those."""

    def is_number(value: Any) -> bool:
        if value is None or isinstance(value, int | float):
            return True
        text = str(value).replace(",", "").split(" (")[0]
        try:
            float(text)
        except ValueError:
            return text == "-"
        return True

    return [index > 0 and all(is_number(row[index]) for row in rows) for index in range(len(columns))]


def _md_cell(value: Any) -> str:
    return fmt(value).replace("|", "\\|").replace("\n", " ")


def render_markdown(report: dict[str, Any], show_confusion: bool = True) -> str:
    settings = report["settings"]
    lines = ["# Annotation agreement", ""]
    described = [
        f"`{a['name']}` ({a['path']}, label `{a['label_expression']}`)" for a in report["annotators"]
    ]
    lines.append(f"Annotators: {', '.join(described)}.")
    lines.append(
        f"Aggregation of several samples: {settings['aggregate']}; duplicate keys: {settings['duplicates']}."
    )
    lines.append("")
    tables = summary_tables(report, settings["ordinal"], settings["threshold"])
    if show_confusion:
        tables += confusion_tables(report)
    extra = disagreement_table(report)
    if extra:
        tables.append(extra)
    for title, columns, rows in tables:
        lines += [f"## {title}", "", "| " + " | ".join(_md_cell(c) for c in columns) + " |"]
        lines.append(
            "|" + "|".join("---:" if right else "---" for right in numeric_columns(columns, rows)) + "|"
        )
        lines += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in rows]
        lines.append("")
    notes = all_notes(report)
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(lines)


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "κ": r"$\kappa$",
    "α": r"$\alpha$",
    "…": r"\ldots{}",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def render_latex(report: dict[str, Any], show_confusion: bool = True) -> str:
    """Tables (booktabs) ready to \\input into a paper; disagreement texts are left out."""
    settings = report["settings"]
    tables = summary_tables(report, settings["ordinal"], settings["threshold"])
    if show_confusion:
        tables += confusion_tables(report)
    parts = ["% annotation agreement tables written by bonepick; needs \\usepackage{booktabs}"]
    for title, columns, rows in tables:
        spec = "".join("r" if right else "l" for right in numeric_columns(columns, rows))
        parts += [
            "\\begin{table}[ht]",
            "\\centering",
            f"\\caption{{{latex_escape(title)}}}",
            f"\\begin{{tabular}}{{{spec}}}",
            "\\toprule",
            " & ".join(latex_escape(str(c)) for c in columns) + " \\\\",
            "\\midrule",
        ]
        parts += [" & ".join(latex_escape(fmt(v)) for v in row) + " \\\\" for row in rows]
        parts += ["\\bottomrule", "\\end{tabular}", "\\end{table}", ""]
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------- plots


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name) or "annotator"


def write_plots(result: AgreementResult, folder: Path) -> list[Path]:
    """PNG files: each annotator's label distribution, all of them side by side, and per pair the
    score differences (numeric labels) and the confusion matrix. Returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from bonepick.io.atomic import atomic_path

    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def save(fig: Any, name: str) -> None:
        path = folder / name
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        written.append(path)

    names = [a.name for a in result.annotators]
    common = result.common
    n = int(common.sum())
    codes = result.codes[:, common]
    used = np.unique(codes).tolist()
    labels = [result.names[c] for c in used]
    few = len(used) <= MAX_DISTRIBUTION_LABELS
    counts = [np.bincount(row, minlength=len(result.names))[used] for row in codes]

    fig, ax = plt.subplots(figsize=(max(6.0, 0.5 * len(labels) * len(names) + 2), 4))
    if few:
        width = 0.8 / len(names)
        positions = np.arange(len(labels))
        for i, name in enumerate(names):
            ax.bar(positions + i * width - 0.4 + width / 2, counts[i], width, label=name)
        ax.set_xticks(positions, labels, rotation=45 if len(labels) > 8 else 0)
    else:
        for i, name in enumerate(names):
            ax.hist(result.values(i), bins=30, alpha=0.5, label=name)
    ax.set_ylabel("rows")
    ax.set_title(f"Labels on the {n:,} rows labelled by all")
    ax.legend()
    save(fig, "distributions.png")

    for i, name in enumerate(names):
        fig, ax = plt.subplots(figsize=(6, 4))
        if few:
            ax.bar(labels, counts[i], color="tab:blue")
            if len(labels) > 8:
                ax.tick_params(axis="x", rotation=45)
        else:
            ax.hist(result.values(i), bins=30, color="tab:blue")
        ax.set_ylabel("rows")
        ax.set_title(f"{name}: labels on {n:,} common rows")
        save(fig, f"distribution_{_safe(name)}.png")

    for pair in result.report["pairs"]:
        i, j = names.index(pair["a"]), names.index(pair["b"])
        mask = result.pair_mask(i, j)
        stem = f"{_safe(pair['a'])}_vs_{_safe(pair['b'])}"
        if result.numeric:
            diff = result.values(i, mask) - result.values(j, mask)
            fig, ax = plt.subplots(figsize=(6, 4))
            unique, freq = np.unique(np.round(diff, 6), return_counts=True)
            if len(unique) <= MAX_DISTRIBUTION_LABELS:
                gap = float(np.min(np.diff(unique))) if len(unique) > 1 else 1.0
                ax.bar(unique, freq, width=0.8 * gap, color="tab:orange")
            else:
                ax.hist(diff, bins=30, color="tab:orange")
            ax.axvline(0, color="black", linewidth=0.8)
            ax.set_xlabel(f"{pair['a']} − {pair['b']}")
            ax.set_ylabel("rows")
            ax.set_title(f"Score differences on {len(diff):,} common rows (mean {np.mean(diff):+.3f})")
            save(fig, f"difference_{stem}.png")
        cm = pair.get("confusion_matrix")
        if cm:
            matrix = np.asarray(cm["matrix"])
            fig, ax = plt.subplots(
                figsize=(max(4.0, 0.5 * len(cm["columns"]) + 2), max(4.0, 0.5 * len(cm["labels"]) + 2))
            )
            ax.imshow(matrix, cmap="Blues")
            ax.set_xticks(
                range(len(cm["columns"])), cm["columns"], rotation=45 if len(cm["columns"]) > 6 else 0
            )
            ax.set_yticks(range(len(cm["labels"])), cm["labels"])
            rounded = " (rounded)" if cm.get("rounded") else ""
            ax.set_xlabel(pair["b"] + rounded)
            ax.set_ylabel(pair["a"] + rounded)
            peak = matrix.max() if matrix.size else 0
            for r in range(matrix.shape[0]):
                for c in range(matrix.shape[1]):
                    ax.text(
                        c,
                        r,
                        str(matrix[r, c]),
                        ha="center",
                        va="center",
                        color="white" if peak and matrix[r, c] > peak / 2 else "black",
                    )
            ax.set_title(f"{pair['a']} vs {pair['b']}: exact agreement {pair['agreement']:.1%}")
            save(fig, f"confusion_{stem}.png")
    return written


#: what the command module may call
__all__ = [
    "AGGREGATIONS",
    "DUPLICATE_POLICIES",
    "AgreementConfig",
    "AgreementResult",
    "AnnotatorLabels",
    "AnnotatorSpec",
    "aggregate_samples",
    "analyse",
    "annotator_names",
    "broadcast",
    "confusion",
    "fleiss",
    "krippendorff_alpha",
    "nominal_pair",
    "ordinal_pair",
    "pick_disagreements",
    "read_annotators",
    "render_latex",
    "render_markdown",
    "run_agreement",
    "summary_tables",
    "threshold_pair",
    "write_plots",
    "write_yaml",
]
