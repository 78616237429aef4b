"""Rebuild the small real-text slices under tests/data from ../shared/corpora.

Run from the repository root: ``uv run python tests/data/build_slices.py``. The output is
deterministic (fixed seed, sorted input), so rerunning it changes nothing.
"""

from __future__ import annotations

import random
from pathlib import Path

from bonepick.io import read_rows, write_rows

ROOT = Path(__file__).resolve().parent
CORPORA = ROOT.parents[2] / "shared" / "corpora"
MAX_CHARS = 1500


def _rows(corpus: str, split: str) -> list[dict]:
    rows = []
    for shard in sorted((CORPORA / corpus / split).glob("*.jsonl.zst")):
        rows.extend(read_rows(shard))
    return rows


def _slice(rows: list[dict], per_label: dict[str, int], seed: int) -> list[dict]:
    rng = random.Random(seed)
    picked = []
    for label, count in per_label.items():
        pool = [r for r in rows if r["label"] == label]
        picked.extend(rng.sample(pool, min(count, len(pool))))
    rng.shuffle(picked)
    for row in picked:
        row["text"] = row["text"][:MAX_CHARS]
    return picked


def build(name: str, corpus: str, train: dict[str, int], test: dict[str, int], train_shards: int = 2) -> None:
    out = ROOT / name
    train_rows = _slice(_rows(corpus, "train"), train, seed=1)
    test_rows = _slice(_rows(corpus, "test"), test, seed=2)
    size = -(-len(train_rows) // train_shards)
    for index in range(train_shards):
        write_rows(out / "train" / f"part_{index:02d}.jsonl.zst", train_rows[index * size : (index + 1) * size], level=19)
    write_rows(out / "test" / "part_00.jsonl.zst", test_rows, level=19)


if __name__ == "__main__":
    build("spam", "spamassassin", {"ham": 420, "spam": 180}, {"ham": 140, "spam": 60})
    build("brown", "brown_paragraphs", {"informative": 420, "imaginative": 180}, {"informative": 140, "imaginative": 60})
