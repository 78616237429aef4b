"""Session fixtures: small fasttext models trained once per test session on tests/data.

``fasttext_model_dir`` is a real model (folder with ``model.bin`` and ``bonepick_model.yaml``)
trained on tests/data/spam, converted to fastText format: labels ham/spam, normalizer whitespace.
Other areas (eval, infer, bootstrap) load it with ``bonepick.models.load_model``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import pytest
import yaml

_WHITESPACE = re.compile(r"\s+")


def write_converted(
    out: Path,
    splits: dict[str, Iterable[dict]],
    normalizer: str = "whitespace",
    text_field: str = "text",
    label_field: str = "label",
) -> Path:
    """Write a folder in convert-to-fasttext's format from rows (real text): one
    ``__label__<label> <text>`` line per row, and the conversion report."""
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, dict[str, int]] = {}
    labels: set[str] = set()
    for split, rows in splits.items():
        per_label: dict[str, int] = {}
        with open(out / f"{split}.txt", "w", encoding="utf-8") as handle:
            for row in rows:
                label = str(row[label_field])
                text = _WHITESPACE.sub(" ", row[text_field]).strip()
                handle.write(f"__label__{label} {text}\n")
                per_label[label] = per_label.get(label, 0) + 1
        counts[split] = per_label
        labels.update(per_label)
    report = {
        "normalizer": normalizer,
        "max_length": None,
        "text_expression": f".{text_field}",
        "label_expression": f".{label_field}",
        "multi_label": False,
        "labels": sorted(labels),
        "counts": counts,
        "auto_bins": None,
    }
    (out / "fasttext_conversion.yaml").write_text(yaml.safe_dump(report, sort_keys=False))
    return out


def _convert(source: Path, out: Path) -> Path:
    """Convert a tests/data dataset into fastText format (every split it has)."""
    from bonepick.io import discover_dataset, read_rows

    dataset = discover_dataset(source)
    splits = {
        split: [row for shard in shards for row in read_rows(shard)]
        for split, shards in dataset.splits.items()
    }
    return write_converted(out, splits)


@pytest.fixture(scope="session")
def fasttext_spam_converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/data/spam in fastText format (train.txt, test.txt, fasttext_conversion.yaml)."""
    from tests.conftest import SPAM

    return _convert(SPAM, tmp_path_factory.mktemp("fasttext-spam") / "converted")


@pytest.fixture(scope="session")
def fasttext_model_dir(tmp_path_factory: pytest.TempPathFactory, fasttext_spam_converted: Path) -> Path:
    """A small real fastText ham/spam model with its card (deterministic: one thread, fixed seed)."""
    from tests.conftest import Cli

    out = tmp_path_factory.mktemp("fasttext-model") / "model"
    Cli()(
        "train-fasttext",
        "-d",
        fasttext_spam_converted,
        "-o",
        out,
        "--dimension",
        "32",
        "--bucket",
        "50000",
        "--thread",
        "1",
        "--seed",
        "1",
    )
    return out
