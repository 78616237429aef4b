"""Rebuild assets/spamassassin from ../shared/corpora/spamassassin (deterministic).

    uv run python assets/build_assets.py
"""

from __future__ import annotations

import random
from pathlib import Path

from bonepick.io import read_rows, write_rows

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parents[1] / "shared" / "corpora" / "spamassassin"
SIZES = {"train": 2000, "test": 500}
MAX_CHARS = 4000


def main() -> None:
    for split, size in SIZES.items():
        rows = [row for path in sorted((SOURCE / split).glob("*.jsonl.zst")) for row in read_rows(path)]
        rng = random.Random(20261121)
        sample = rng.sample(rows, size)
        for row in sample:
            row["text"] = row["text"][:MAX_CHARS]
        shards = 2 if split == "train" else 1
        per = -(-size // shards)
        for index in range(shards):
            write_rows(
                HERE / "spamassassin" / split / f"shard_{index:05d}.jsonl.zst",
                sample[index * per : (index + 1) * per],
                level=19,
            )


if __name__ == "__main__":
    main()
