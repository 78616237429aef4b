"""Importing a Hugging Face ``datasets`` dataset as a bonepick dataset folder.

``name`` is a hub id, a local folder, a local data file (``.jsonl``, ``.json``, ``.parquet``,
``.csv``, ...) or a builder name (``json``, ``parquet``, ``csv``) with ``data_files``, so local
data imports offline. Every split found is kept (``validation``/``val``/``dev`` -> ``valid/``);
splits with other names are reported and left out unless asked for. Without a test split, one
is cut from train with the seed: a float is a fraction, an integer a row count (exact in the
normal mode; in streaming mode a fraction is drawn row by row and a count is an exact
reservoir sample).

Nothing is left in the Hugging Face cache: the Arrow cache is built in a temporary folder inside
the output folder and removed at the end, and streaming mode caches nothing.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import random
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from bonepick.data.sizes import amount_to_rows
from bonepick.errors import InputNotFoundError, MissingDependencyError, UsageError
from bonepick.io.dataset import SPLIT_ALIASES, SPLIT_NAMES
from bonepick.io.jsonl import RotatingShardWriter, ShardWriter
from bonepick.pipeline import LocalExecutor, ProgressSink, RunSummary, ShardStats, ShardTask, Step
from bonepick.pipeline.executor import STATE_DIR

FILE_BUILDERS = {
    ".jsonl": "json",
    ".json": "json",
    ".ndjson": "json",
    ".parquet": "parquet",
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "text",
    ".arrow": "arrow",
}


def _default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    raise TypeError(f"cannot write a {type(value).__name__} as JSON")


def dumps(row: dict[str, Any]) -> bytes:
    return (
        orjson.dumps(row, default=_default, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)
        + b"\n"
    )


def local_split_name(name: str) -> str | None:
    """Our split for a dataset's split name, or None for names we do not know."""
    key = str(name).strip().lower()
    key = SPLIT_ALIASES.get(key, key)
    return key if key in SPLIT_NAMES else None


def _load_args(name: str, data_files: Sequence[str] | None) -> tuple[str, Any]:
    """(path, data_files) for ``datasets.load_dataset``, resolving local files to their builder."""
    path = Path(name).expanduser()
    if data_files:
        return name, list(data_files)
    if path.is_file():
        suffixes = [s.lower() for s in path.suffixes if s.lower() not in (".gz", ".zst", ".bz2", ".xz")]
        builder = FILE_BUILDERS.get(suffixes[-1] if suffixes else "")
        if builder is None:
            raise UsageError(
                f"cannot tell the format of {path}",
                hint=f"use a {', '.join(sorted(FILE_BUILDERS))} file, or pass -n json --data-files FILE",
            )
        return builder, [str(path)]
    if name.startswith((".", "/", "~")) and not path.exists():
        raise InputNotFoundError(f"no such file or folder: {name}")
    return name, None


@dataclass
class ImportResult:
    summary: RunSummary | None
    rows: dict[str, int] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)
    skipped_splits: list[str] = field(default_factory=list)
    test_cut_from_train: int | float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "files": self.files,
            "skipped_splits": self.skipped_splits,
            "test_cut_from_train": self.test_cut_from_train,
        }


class WriteRowsStep(Step):
    """Writes one output shard from rows of a dataset's Arrow cache files, chosen by index.

    Workers read the memory-mapped Arrow files with pyarrow alone, so they never import
    ``datasets`` (slow to import). Values are written as Arrow stores them (a class label as
    its integer, binary data base64-encoded).
    """

    name = "write"
    resumable = False

    def __init__(self) -> None:
        self._tables: dict[tuple[str, ...], Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__()  # type: ignore[misc]

    def _table(self, files: tuple[str, ...]) -> Any:
        import pyarrow as pa

        if files not in self._tables:
            tables = []
            for name in files:
                source = pa.memory_map(name)
                try:
                    tables.append(pa.ipc.open_stream(source).read_all())
                except pa.ArrowInvalid:
                    tables.append(pa.ipc.open_file(source).read_all())
            self._tables = {files: pa.concat_tables(tables) if len(tables) > 1 else tables[0]}
        return self._tables[files]

    def run(self, task: ShardTask, stats: ShardStats) -> None:
        assert task.output is not None
        if "files" in task.params:
            table = self._table(tuple(task.params["files"])).take(_arrow_indices(task.params["indices"]))
            batches = (batch.to_pylist() for batch in table.to_batches(max_chunksize=1000))
        else:  # a dataset held in memory: sent along with the task
            subset = task.params["dataset"].select(task.params["indices"])
            batches = (
                [dict(zip(batch, values, strict=True)) for values in zip(*batch.values(), strict=True)]
                for batch in subset.iter(batch_size=1000)
            )
        with ShardWriter(task.output) as writer:
            for rows in batches:
                for row in rows:
                    line = dumps(row)
                    writer.write_line(line)
                    stats.read(1, len(line))
                    stats.wrote()
        return None


def _arrow_indices(indices: np.ndarray) -> Any:
    """An Arrow int64 array over the numpy buffer (``pa.array`` on numpy imports pandas: seconds)."""
    import pyarrow as pa

    data = np.ascontiguousarray(indices, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(data), [None, pa.py_buffer(data)])


def _source_params(dataset: Any, indices: np.ndarray) -> dict[str, Any]:
    files = [f["filename"] for f in dataset.cache_files]
    if files and dataset._indices is None:
        return {"files": files, "indices": indices}
    return {"dataset": dataset, "indices": indices}


def _test_indices(num_rows: int, amount: float | int, seed: int) -> np.ndarray:
    """Exactly ``amount`` rows (or that fraction) chosen uniformly with the seed, sorted."""
    from bonepick.data.selection import KeyStream

    count = amount_to_rows(amount, num_rows, "--test-split")
    keys = KeyStream(seed, "import-test-split").next(num_rows)
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    chosen = np.argpartition(keys, count - 1)[:count] if count < num_rows else np.arange(num_rows)
    return np.sort(chosen)


def _remove_stale(folder: Path, keep: set[Path]) -> None:
    if folder.is_dir():
        for path in folder.glob("shard_*.jsonl.zst"):
            if path not in keep:
                path.unlink()


def _hf_datasets():
    try:
        import datasets
    except ImportError as error:  # pragma: no cover - a declared dependency
        raise MissingDependencyError("datasets", purpose="import-hf-dataset") from error
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    return datasets


def _wanted_splits(
    available: Sequence[str], requested: Sequence[str] | None
) -> tuple[dict[str, str], list[str]]:
    """Map of source split -> our split, and the source splits left out."""
    if requested:
        missing = [s for s in requested if s not in available]
        if missing:
            raise UsageError(
                f"split(s) {', '.join(missing)} not in the dataset", hint=f"it has: {', '.join(available)}"
            )
        chosen = list(requested)
    else:
        chosen = list(available)
    mapping: dict[str, str] = {}
    skipped: list[str] = []
    for source in chosen:
        ours = local_split_name(source)
        if ours is None:
            if requested:
                raise UsageError(f"split '{source}' has no place in a bonepick dataset (train, valid, test)")
            skipped.append(source)
            continue
        if ours in mapping.values():
            raise UsageError(f"two splits map to {ours}/", hint="choose one of them with --split")
        mapping[source] = ours
    if not mapping:
        raise UsageError(
            "the dataset has no train, validation or test split", hint=f"it has: {', '.join(available)}"
        )
    return mapping, skipped


def import_hf_dataset(
    name: str,
    output_dir: Path,
    *,
    subset: str | None = None,
    splits: Sequence[str] | None = None,
    data_files: Sequence[str] | None = None,
    test_split: float | int | None = None,
    seed: int = 42,
    streaming: bool = False,
    rows_per_shard: int = 100_000,
    num_proc: int | None = None,
    progress: ProgressSink | None = None,
) -> ImportResult:
    if rows_per_shard < 1:
        raise UsageError(f"--rows-per-shard must be at least 1, got {rows_per_shard}")
    output_dir = Path(output_dir)
    path, files = _load_args(name, data_files)
    if streaming:
        return _import_streaming(
            path, files, output_dir, subset, splits, test_split, seed, rows_per_shard, progress
        )
    datasets = _hf_datasets()
    cache = output_dir / STATE_DIR / "hf-cache"
    shutil.rmtree(cache, ignore_errors=True)
    try:
        try:
            loaded = datasets.load_dataset(
                path, name=subset, data_files=files, cache_dir=str(cache), num_proc=num_proc
            )
        except FileNotFoundError as error:
            raise InputNotFoundError(f"cannot find dataset '{name}': {error}") from None
        except (ValueError, ConnectionError) as error:
            raise UsageError(f"cannot load dataset '{name}': {error}") from None
        if not isinstance(loaded, datasets.DatasetDict):
            loaded = datasets.DatasetDict({"train": loaded})
        mapping, skipped = _wanted_splits(list(loaded), splits)
        has_test = "test" in mapping.values()
        if not has_test and test_split is None:
            raise UsageError(
                "the dataset has no test split",
                hint="pass --test-split 0.1 (a fraction) or 10000 (a row count)",
            )
        if has_test and test_split is not None:
            raise UsageError("the dataset already has a test split; leave out --test-split")
        plan: dict[str, tuple[Any, np.ndarray]] = {}
        for source, ours in mapping.items():
            plan[ours] = (loaded[source], np.arange(loaded[source].num_rows))
        if test_split is not None:
            if "train" not in plan:
                raise UsageError("a test split can only be cut from a train split")
            train, indices = plan["train"]
            test_rows = _test_indices(train.num_rows, test_split, seed)
            keep = np.ones(train.num_rows, dtype=bool)
            keep[test_rows] = False
            plan["train"] = (train, indices[keep])
            plan["test"] = (train, test_rows)
        tasks: list[ShardTask] = []
        for ours in SPLIT_NAMES:
            if ours not in plan:
                continue
            dataset, indices = plan[ours]
            for number, start in enumerate(range(0, max(1, len(indices)), rows_per_shard)):
                output = output_dir / ours / f"shard_{number:05d}.jsonl.zst"
                tasks.append(
                    ShardTask(
                        index=len(tasks),
                        key=f"{ours}/{output.name}",
                        input=Path(name),
                        output=output,
                        split=ours,
                        params=_source_params(dataset, indices[start : start + rows_per_shard]),
                    )
                )
        summary = LocalExecutor(num_proc, progress=progress).run(WriteRowsStep(), tasks, output_dir, "import")
    finally:
        shutil.rmtree(cache, ignore_errors=True)
        with contextlib.suppress(OSError):
            cache.parent.rmdir()  # only when nothing else lives there
    written = {t.output for t in tasks if t.output is not None}
    for ours in SPLIT_NAMES:
        _remove_stale(output_dir / ours, written)
    by_split = summary.by_split()
    return ImportResult(
        summary=summary,
        rows={s: by_split[s].rows_out for s in SPLIT_NAMES if s in by_split},
        files={s: sum(1 for t in tasks if t.split == s) for s in SPLIT_NAMES if s in by_split},
        skipped_splits=skipped,
        test_cut_from_train=test_split,
    )


@contextlib.contextmanager
def _without_torch(datasets: Any) -> Any:
    """Streaming datasets import torch (seconds) only to share state with DataLoader workers,
    which an import never uses; hide torch from that check while loading."""
    config = datasets.config
    before = getattr(config, "TORCH_AVAILABLE", False)
    config.TORCH_AVAILABLE = False
    try:
        yield
    finally:
        config.TORCH_AVAILABLE = before


def _import_streaming(
    path: str,
    files: Any,
    output_dir: Path,
    subset: str | None,
    splits: Sequence[str] | None,
    test_split: float | int | None,
    seed: int,
    rows_per_shard: int,
    progress: ProgressSink | None,
) -> ImportResult:
    datasets = _hf_datasets()
    # streaming caches no data, but the builder still takes a lock file in its cache folder
    cache = output_dir / STATE_DIR / "hf-cache"
    try:
        with _without_torch(datasets):
            loaded = datasets.load_dataset(
                path, name=subset, data_files=files, streaming=True, cache_dir=str(cache)
            )
    except FileNotFoundError as error:
        raise InputNotFoundError(f"cannot find dataset '{path}': {error}") from None
    except (ValueError, ConnectionError) as error:
        raise UsageError(f"cannot load dataset '{path}': {error}") from None
    finally:
        shutil.rmtree(cache, ignore_errors=True)
        with contextlib.suppress(OSError):
            cache.parent.rmdir()
    if not isinstance(loaded, datasets.IterableDatasetDict):
        loaded = datasets.IterableDatasetDict({"train": loaded})
    mapping, skipped = _wanted_splits(list(loaded), splits)
    has_test = "test" in mapping.values()
    if not has_test and test_split is None:
        raise UsageError("the dataset has no test split", hint="pass --test-split 0.1 or 10000")
    if has_test and test_split is not None:
        raise UsageError("the dataset already has a test split; leave out --test-split")
    writers: dict[str, RotatingShardWriter] = {}
    if progress is not None:
        progress.start("import (streaming)", len(mapping))
    try:
        for source, ours in mapping.items():
            main = writers[ours] = RotatingShardWriter(output_dir / ours, rows_per_shard=rows_per_shard)
            cut_test = test_split is not None and ours == "train"
            test = None
            if cut_test:
                test = writers["test"] = RotatingShardWriter(
                    output_dir / "test", rows_per_shard=rows_per_shard
                )
            rng = random.Random(seed)
            reservoir: list[bytes] = []
            seen = 0
            for row in loaded[source]:
                line = dumps(row)
                if progress is not None:
                    progress.rows(1, len(line))
                seen += 1
                if test is None:
                    main.write_line(line)
                elif isinstance(test_split, float):
                    (test if rng.random() < test_split else main).write_line(line)
                else:
                    # an exact reservoir sample of test_split rows; evicted rows go to train
                    assert isinstance(test_split, int)
                    if len(reservoir) < test_split:
                        reservoir.append(line)
                        continue
                    slot = rng.randrange(seen)
                    if slot < test_split:
                        reservoir[slot], line = line, reservoir[slot]
                    main.write_line(line)
            if test is not None and isinstance(test_split, int):
                if len(reservoir) < test_split:
                    raise UsageError(f"--test-split asks for {test_split:,} rows but train has only {seen:,}")
                for line in reservoir:
                    test.write_line(line)
            if progress is not None:
                progress.shard_done()
    except BaseException:
        for writer in writers.values():
            writer.abort()
        raise
    finally:
        if progress is not None:
            progress.stop()
    for writer in writers.values():
        writer.close()
    written = {p for w in writers.values() for p in w.paths}
    for ours in SPLIT_NAMES:
        _remove_stale(output_dir / ours, written)
    return ImportResult(
        summary=None,
        rows={s: writers[s].rows for s in SPLIT_NAMES if s in writers},
        files={s: len(writers[s].paths) for s in SPLIT_NAMES if s in writers},
        skipped_splits=skipped,
        test_cut_from_train=test_split,
    )
