"""The results file: ``results_<signature>.yaml`` in the model folder.

The signature identifies the test data, not the way it was read: every row contributes a hash of
its (text, label) pair, the row hashes are sorted, and the signature is the hash of that sorted
list. The same rows in any order, in any number of shards, give the same signature, so rerunning
an evaluation on the same data overwrites its results instead of piling up files, and results of
different models on the same data can be matched.
"""

from __future__ import annotations

import hashlib
import math
import operator
from collections.abc import Sequence
from functools import partial
from operator import methodcaller
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import yaml

from bonepick.errors import InputNotFoundError, UsageError
from bonepick.io.atomic import atomic_write_text

RESULTS_PREFIX = "results_"
SIGNATURE_CHARS = 12
_ROW_DIGEST = 16


def _label_json(label: Any) -> bytes:
    return orjson.dumps(label, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY)


def row_digest(text: str, label: Any) -> bytes:
    """A 16-byte hash of one (text, label) pair; the label is hashed as canonical JSON, so
    ``1`` and ``1.0`` differ but key order in a dict label does not matter."""
    data = text.encode("utf-8", "surrogatepass") + b"\x00" + _label_json(label)
    return hashlib.blake2b(data, digest_size=_ROW_DIGEST).digest()


class Signature:
    """Collects row hashes and turns them into an order-independent signature."""

    def __init__(self) -> None:
        self._digests = bytearray()  # 16 bytes per row

    def add(self, text: str, label: Any) -> None:
        self._digests += row_digest(text, label)

    def add_batch(self, texts: Sequence[str], labels: Sequence[Any]) -> None:
        """:meth:`add` for every pair (same digests, since hashing ``a + b`` is hashing ``a``
        then ``b``): a string label's JSON is made once per batch, and the rows are encoded,
        joined to their label and hashed by C-level ``map`` calls, not a Python step per row."""
        if all(label.__class__ is str for label in labels):
            suffixes = {label: b"\x00" + _label_json(label) for label in set(labels)}
            encoded = map(methodcaller("encode", "utf-8", "surrogatepass"), texts)
            data = map(operator.add, encoded, map(suffixes.__getitem__, labels))
            hashers = map(partial(hashlib.blake2b, digest_size=_ROW_DIGEST), data)
            self._digests += b"".join(map(methodcaller("digest"), hashers))
            return
        for text, label in zip(texts, labels, strict=True):
            self.add(text, label)

    def __len__(self) -> int:
        return len(self._digests) // _ROW_DIGEST

    def hexdigest(self) -> str:
        # each 16-byte digest as two big-endian words: sorting them sorts the digests bytewise
        data = np.frombuffer(bytes(self._digests), dtype=">u8").reshape(-1, 2)
        if len(data):
            data = data[np.lexsort((data[:, 1], data[:, 0]))]
        return hashlib.sha256(data.tobytes()).hexdigest()[:SIGNATURE_CHARS]


def results_path(model_dir: str | Path, signature: str) -> Path:
    return Path(model_dir) / f"{RESULTS_PREFIX}{signature}.yaml"


def _plain(value: Any, digits: int = 6) -> Any:
    """YAML-friendly values: numpy scalars to Python, floats rounded, NaN to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, digits) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist(), digits)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        return round(value, digits) if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    return str(value)


def write_results(path: str | Path, record: dict[str, Any], digits: int = 6) -> Path:
    """Write a results record as YAML (atomically), keeping the record's key order and rounding
    floats to ``digits`` decimals."""
    path = Path(path)
    text = yaml.safe_dump(_plain(record, digits), sort_keys=False, allow_unicode=True, width=120)
    atomic_write_text(path, text)
    return path


def load_results(path: str | Path) -> dict[str, Any]:
    """Read a results YAML written by an eval command."""
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"no such results file: {path}", hint="eval writes results_<signature>.yaml")
    try:
        record = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise UsageError(f"{path}: not valid YAML ({error})") from None
    if not isinstance(record, dict) or "metrics" not in record:
        raise UsageError(f"{path} is not a bonepick results file (no 'metrics')")
    return record


def find_results(path: str | Path) -> list[Path]:
    """A results file itself, or every ``results_*.yaml`` in a model folder."""
    path = Path(path)
    if path.is_dir():
        found = sorted(path.glob(f"{RESULTS_PREFIX}*.yaml"))
        if not found:
            raise InputNotFoundError(
                f"{path} holds no {RESULTS_PREFIX}*.yaml", hint="run `bonepick eval` on the model first"
            )
        return found
    if not path.exists():
        raise InputNotFoundError(f"no such results file: {path}")
    return [path]
