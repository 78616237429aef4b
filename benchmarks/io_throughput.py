"""Read+write throughput of a pass-through copy (bonepick copy-dataset) beside the raw decode rate.

Builds a zstd dataset from ../shared/corpora (real rows repeated to the requested size), then:
  raw      in-process zstandard stream decode + orjson parse of every line, no writing
  copy -p1 bonepick's pass-through copy (read, parse, serialise, zstd write, atomic rename)
  copy -p2 the same with two worker processes
Prints MB/s (uncompressed JSON bytes) and rows/s, and copy/raw per process.

    uv run python benchmarks/io_throughput.py [--mb 200] [--shards 8] [--breakdown]

--breakdown also copies the first shard in-process with other writer settings (no compression;
zstd in the reading thread; zstd levels on zstd's background thread), best of three, to show where
the time goes.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import orjson
from raw_decode import decode_and_parse

from bonepick.data.copy import copy_dataset
from bonepick.io import read_rows, write_rows

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"


def build(root: Path, target_mb: float, shards: int) -> tuple[int, int]:
    rows = [
        r
        for name in ("spamassassin", "brown_paragraphs", "python_docs", "fortunes")
        for p in sorted((CORPORA / name / "train").glob("*.jsonl.zst"))
        for r in read_rows(p)
    ]
    line_bytes = sum(len(orjson.dumps(r)) + 1 for r in rows)
    repeats = max(1, int(target_mb * 1e6 / line_bytes / shards) + 1)
    total_rows = total_bytes = 0
    for s in range(shards):
        write_rows(root / "train" / f"shard_{s:03d}.jsonl.zst", (r for _ in range(repeats) for r in rows))
        total_rows += repeats * len(rows)
        total_bytes += repeats * line_bytes
    return total_rows, total_bytes


def raw_decode(root: Path) -> float:
    start = time.perf_counter()
    decode_and_parse(sorted(root.rglob("*.jsonl.zst")))
    return time.perf_counter() - start


def breakdown(shard: Path, mb: float, work: Path) -> None:
    import bonepick.io.jsonl as jsonl
    from bonepick.data.copy import CopyStep
    from bonepick.pipeline.stats import ShardStats
    from bonepick.pipeline.step import ShardTask

    def best(run) -> tuple[float, float]:
        rates = []
        for _ in range(3):
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            rates.append((mb / (time.perf_counter() - wall), mb / (time.process_time() - cpu)))
        return max(rates)

    raw_wall, raw_cpu = best(lambda: decode_and_parse([shard]))
    print(f"one shard in-process ({mb:.0f} MB), best of 3; raw decode+parse {raw_wall:.0f} MB/s")
    threads = jsonl.ZSTD_WORKER_THREADS
    try:
        for label, level, workers, suffix in (
            ("plain .jsonl (no compression)", None, 0, ".jsonl"),
            ("zstd 1, in the reading thread", 1, 0, ".jsonl.zst"),
            ("zstd 1, background thread", 1, 1, ".jsonl.zst"),
            ("zstd 1, two background threads", 1, 2, ".jsonl.zst"),
            ("zstd -1, background thread", -1, 1, ".jsonl.zst"),
            ("zstd 3, background thread", 3, 1, ".jsonl.zst"),
        ):
            jsonl.ZSTD_WORKER_THREADS = workers
            out = work / f"breakdown{suffix}"
            wall, cpu = best(lambda: CopyStep(level).run(ShardTask(0, "k", shard, out), ShardStats()))  # noqa: B023
            print(
                f"  {label:<32} wall {wall:6.0f} MB/s ({wall / raw_wall:4.0%})  cpu {cpu:6.0f} ({cpu / raw_cpu:4.0%})"
            )
    finally:
        jsonl.ZSTD_WORKER_THREADS = threads


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=200.0, help="uncompressed size of the dataset")
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--breakdown", action="store_true", help="also time writer settings on one shard")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bonepick-io-bench-"))
    try:
        rows, nbytes = build(work / "in", args.mb, args.shards)
        mb = nbytes / 1e6
        print(f"dataset: {rows:,} rows, {mb:.0f} MB uncompressed JSON, {args.shards} zstd shards")
        raw = raw_decode(work / "in")
        print(f"{'raw decode+parse (1 proc)':<28} {mb / raw:8.1f} MB/s {rows / raw:12,.0f} rows/s")
        for procs in (1, 2):
            out = work / f"out{procs}"
            start = time.perf_counter()
            copy_dataset([work / "in"], out, num_proc=procs)
            seconds = time.perf_counter() - start
            per_proc = mb / seconds / procs
            print(
                f"{f'copy-dataset -p {procs}':<28} {mb / seconds:8.1f} MB/s {rows / seconds:12,.0f} rows/s"
                f"   per process {per_proc:.1f} MB/s = {per_proc / (mb / raw):.0%} of raw"
            )
            shutil.rmtree(out)
        if args.breakdown:
            shard = sorted((work / "in").rglob("*.jsonl.zst"))[0]
            breakdown(shard, mb / args.shards, work)
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
