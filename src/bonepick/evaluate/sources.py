"""Which files an evaluation reads: the test split of each dataset folder.

``-d DIR`` may be a bonepick dataset (``DIR/test/`` shards), a folder of shards without split
folders (all of them are read), a single shard, or a fastText-format folder written by
``convert-to-fasttext`` (``DIR/test.txt``) or such a file itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice, repeat
from pathlib import Path
from typing import Any

from bonepick.errors import DataError, InputNotFoundError, UsageError
from bonepick.io.dataset import SPLIT_ALIASES, normalize_split_name
from bonepick.io.shards import find_shards, is_shard

FASTTEXT_PREFIX = "__label__"


@dataclass(frozen=True)
class Source:
    """One file to read; ``fasttext`` files hold prepared text and ``__label__`` labels."""

    path: Path
    format: str  # "jsonl" | "fasttext"

    @property
    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0


def _split_folder(root: Path, split: str) -> Path | None:
    for name in (split, *[alias for alias, target in SPLIT_ALIASES.items() if target == split]):
        if (root / name).is_dir():
            return root / name
    return None


def resolve_sources(roots: Sequence[str | Path], split: str = "test") -> list[Source]:
    """The files of ``split`` in every root, in a fixed order (roots as given, shards sorted)."""
    if not roots:
        raise UsageError("no dataset folder given", hint="pass -d DIR (repeat for several)")
    split = normalize_split_name(split)
    sources: list[Source] = []
    for root in map(Path, roots):
        sources.extend(_resolve_one(root, split))
    return sources


def _resolve_one(root: Path, split: str) -> list[Source]:
    if not root.exists():
        raise InputNotFoundError(f"no such dataset folder: {root}", hint="check the path you passed")
    if root.is_file():
        if root.suffix == ".txt":
            return [Source(root, "fasttext")]
        if is_shard(root):
            return [Source(root, "jsonl")]
        raise UsageError(f"{root} is neither a JSON Lines shard nor a fastText .txt file")
    folder = _split_folder(root, split)
    if folder is not None:
        shards = find_shards(folder)
        if not shards:
            raise DataError(f"the {split} split has no shards", folder)
        return [Source(p, "jsonl") for p in shards]
    text_file = root / f"{split}.txt"
    if text_file.is_file():
        return [Source(text_file, "fasttext")]
    has_splits = [name for name in ("train", "valid", "test") if (root / name).is_dir()]
    if has_splits:
        raise UsageError(
            f"{root} has no {split}/ split (it has {', '.join(s + '/' for s in has_splits)})",
            hint=f"pass --split {has_splits[0]}, or cut a test split with `bonepick reshard-dataset --test-split-frac`",
        )
    shards = find_shards(root)
    if not shards:
        raise DataError(
            f"no {split}/ folder, {split}.txt or data shards here",
            root,
            hint="point -d at a dataset folder with a test/ split",
        )
    return [Source(p, "jsonl") for p in shards]


def parse_fasttext_line(line: str) -> tuple[list[str], str]:
    """``__label__a __label__b some text`` -> (["a", "b"], "some text")."""
    labels = []
    rest = line.rstrip("\n")
    while rest.startswith(FASTTEXT_PREFIX):
        token, _, rest = rest.partition(" ")
        labels.append(token[len(FASTTEXT_PREFIX) :])
    return labels, rest


def iter_fasttext(path: Path) -> Iterator[tuple[int, list[str], str, int]]:
    """(line number, labels, text, bytes) for every non-blank line of a fastText file."""
    with open(path, encoding="utf-8", errors="surrogateescape") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            yield number, *_parsed(line, path, number), len(line)


def _parsed(line: str, path: Path, number: int) -> tuple[list[str], str]:
    labels, text = parse_fasttext_line(line)
    if not labels:
        raise DataError(
            "line has no __label__ prefix",
            path,
            number,
            hint="fastText lines look like `__label__x text`",
        )
    return labels, text


def iter_fasttext_blocks(path: Path, size: int) -> Iterator[tuple[list[int], list[Any], list[str], int]]:
    """The rows of :func:`iter_fasttext` in blocks of up to ``size`` lines: (line numbers,
    labels, texts, characters), where a label is a string, or a list of the names on a line
    with several.

    A block whose every line is ``__label__x text`` (one label, then a space) is split with one
    ``partition`` per line in list comprehensions; any other block is parsed line by line.
    Both give what :func:`parse_fasttext_line` gives.
    """
    cut = len(FASTTEXT_PREFIX)
    with open(path, encoding="utf-8", errors="surrogateescape") as handle:
        first = 1
        while block := list(islice(handle, size)):
            heads, seps, rests = zip(*[line.partition(" ") for line in block], strict=True)
            if (
                "" not in seps
                and all(map(str.startswith, heads, repeat(FASTTEXT_PREFIX)))
                and not any(map(str.startswith, rests, repeat(FASTTEXT_PREFIX)))
            ):
                numbers = list(range(first, first + len(block)))
                labels: list[Any] = [head[cut:] for head in heads]
                texts = [rest.rstrip("\n") for rest in rests]
                chars = sum(map(len, block))
            else:
                numbers, labels, texts, chars = [], [], [], 0
                for number, line in enumerate(block, start=first):
                    if not line.strip():
                        continue
                    names, text = _parsed(line, path, number)
                    numbers.append(number)
                    labels.append(names if len(names) > 1 else names[0])
                    texts.append(text)
                    chars += len(line)
            first += len(block)
            if numbers:
                yield numbers, labels, texts, chars


def describe(sources: Sequence[Source]) -> dict[str, Any]:
    """Files read, for the results file."""
    return {"files": len(sources), "formats": sorted({s.format for s in sources})}
