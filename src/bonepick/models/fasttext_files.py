"""Reading the folders ``convert-to-fasttext`` writes: ``train.txt``, ``valid.txt``, ``test.txt``
(``__label__<label> <text>`` lines) and ``fasttext_conversion.yaml``.

Every line is checked while it is read (a line without a label is an error naming file:line), and
several folders are joined into one file line by line, so a file that lacks its final newline
cannot glue its last document to the next file's first label.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bonepick.errors import DataError, InputNotFoundError, UsageError
from bonepick.models.fasttext import LABEL_PREFIX

CONVERSION_FILE = "fasttext_conversion.yaml"
SPLIT_FILES = {"train": "train.txt", "valid": "valid.txt", "test": "test.txt"}

#: the labels at the start of a line: ``__label__a __label__b text``
_LEADING_LABELS = re.compile(rb"[ \t]*((?:__label__\S+[ \t]*)+)")
_PREFIX = LABEL_PREFIX.encode()


@dataclass
class ConvertedDir:
    """One folder of fastText-format splits and what its conversion report says."""

    root: Path
    conversion: dict[str, Any] = field(default_factory=dict)

    def split(self, name: str) -> Path | None:
        path = self.root / SPLIT_FILES[name]
        return path if path.is_file() else None

    @property
    def normalizer(self) -> str | None:
        return self.conversion.get("normalizer")

    @property
    def max_length(self) -> int | None:
        return self.conversion.get("max_length")


def open_converted(root: str | Path) -> ConvertedDir:
    root = Path(root)
    if not root.is_dir():
        raise InputNotFoundError(
            f"no such folder: {root}", hint="pass a folder written by convert-to-fasttext (-d DIR)"
        )
    if not (root / SPLIT_FILES["train"]).is_file():
        raise InputNotFoundError(
            f"{root} has no {SPLIT_FILES['train']}",
            hint="train-fasttext reads folders written by convert-to-fasttext",
        )
    conversion: dict[str, Any] = {}
    report = root / CONVERSION_FILE
    if report.is_file():
        try:
            conversion = yaml.safe_load(report.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as error:
            raise DataError(f"not valid YAML ({error})", report) from None
    return ConvertedDir(root, conversion)


def open_converted_dirs(roots: Sequence[str | Path]) -> list[ConvertedDir]:
    """Open every folder and check that they were prepared the same way."""
    if not roots:
        raise UsageError("no dataset folder given", hint="pass -d DIR (repeat for several)")
    dirs = [open_converted(root) for root in roots]
    for key in ("normalizer", "max_length"):
        values = {d.conversion.get(key) for d in dirs if d.conversion}
        if len(values) > 1:
            detail = ", ".join(f"{d.root}: {d.conversion.get(key)}" for d in dirs if d.conversion)
            raise UsageError(
                f"the dataset folders were converted with different {key} values ({detail})",
                hint="convert them again with the same --normalizer and --max-length",
            )
    return dirs


@dataclass
class SplitStats:
    """What a pass over fastText-format files found."""

    documents: int = 0
    blank_lines: int = 0
    multi_label_lines: int = 0
    labels: Counter = field(default_factory=Counter)
    bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "documents": self.documents,
            "labels": dict(sorted(self.labels.items())),
            "multi_label_documents": self.multi_label_lines,
            "blank_lines_skipped": self.blank_lines,
            "bytes": self.bytes,
        }


def iter_labeled(path: Path, stats: SplitStats | None = None) -> Iterator[tuple[int, bytes, list[bytes]]]:
    """Yield ``(line_number, raw_line, labels)`` for each non-blank line; labels have no prefix.

    A line that does not start with ``__label__`` raises :class:`DataError` at its file:line.
    """
    stats = stats if stats is not None else SplitStats()
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            stats.bytes += len(line)
            if not line.strip():
                stats.blank_lines += 1
                continue
            match = _LEADING_LABELS.match(line)
            if match is None:
                preview = line[:60].decode("utf-8", "replace").rstrip()
                raise DataError(
                    f"line has no label (it starts with '{preview}')",
                    path,
                    number,
                    hint=f"every line must start with {LABEL_PREFIX}<label>; write the files with "
                    "convert-to-fasttext",
                )
            labels = [token[len(_PREFIX) :] for token in match.group(1).split()]
            stats.documents += 1
            stats.labels.update(label.decode("utf-8", "replace") for label in labels)
            if len(labels) > 1:
                stats.multi_label_lines += 1
            yield number, line, labels


def scan_split(paths: Sequence[Path], name: str) -> SplitStats:
    """Check every line of ``paths`` and count documents and labels."""
    stats = SplitStats()
    for path in paths:
        for _ in iter_labeled(path, stats):
            pass
    _require_documents(stats, paths, name)
    return stats


def join_split(paths: Sequence[Path], output: Path, name: str) -> SplitStats:
    """Check ``paths`` and write their labeled lines, in order, one per line, into ``output``."""
    stats = SplitStats()
    with open(output, "wb") as out:
        for path in paths:
            for _, line, _ in iter_labeled(path, stats):
                out.write(line if line.endswith(b"\n") else line + b"\n")
    _require_documents(stats, paths, name)
    return stats


def _require_documents(stats: SplitStats, paths: Sequence[Path], name: str) -> None:
    if stats.documents == 0:
        where = ", ".join(str(p) for p in paths)
        raise DataError(
            f"the {name} split has no labeled lines ({where})",
            hint="check the conversion: was every row filtered out, or is the file empty?",
        )


def read_labeled(paths: Sequence[Path]) -> tuple[list[str], list[list[str]]]:
    """Texts (labels removed) and their labels, for computing metrics."""
    texts: list[str] = []
    labels: list[list[str]] = []
    for path in paths:
        for _, line, found in iter_labeled(path):
            text = _LEADING_LABELS.sub(b"", line, count=1)
            texts.append(text.decode("utf-8", "replace").strip())
            labels.append([label.decode("utf-8", "replace") for label in found])
    return texts, labels
