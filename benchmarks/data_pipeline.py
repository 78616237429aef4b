"""Throughput and peak memory of the data pipeline stages beside the raw decode rate.

Builds zstd datasets from ../shared/corpora (real rows of four corpora, repeated) under a temp
folder, then runs each stage in a fresh subprocess (so its peak RSS is its own) with 1 and 2
processes:

  raw        in-process zstandard stream decode + orjson parse of every line (1 process)
  transform  jq label transform {score: (if .label == "spam" then 0 else 1 end)}, rows merged
  convert    convert-to-fasttext, whitespace normalizer
  balance    balance-dataset on .label (exact, seeded)
  sample     sample-dataset --target-size (a third of the bytes)
  reshard    reshard-dataset -n 5

MB/s are uncompressed input JSON bytes per second of wall time; "per proc" divides by the
process count, and "vs raw" compares that with the raw rate measured right before the stage
(the issue's target: pass-through stages at >= 50% of it). "CPU vs raw" uses CPU seconds of the
stage and its workers instead, every thread included (zstd's two compression threads): a full
rewrite also pays for compressing its output, which the raw decode does not. Peak RSS is the
largest resident set of the main process (its own VmHWM) and of any worker (sampled every 50 ms
from this process, not from inside the stage).
A second dataset twice as large (twice the shards of the same size) shows whether peak memory
grows with the data for balance, sample and reshard.

    flock /tmp/bonepick-bench.lock uv run python benchmarks/data_pipeline.py [--mb 100]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
from raw_decode import decode_and_parse

from bonepick.io import read_rows, write_rows

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
STAGES = ("transform", "convert", "balance", "sample", "reshard")
PASS_THROUGH = ("transform", "balance", "sample", "reshard")
# full rewrites are bound by zstd compression; also shown at zstd level 3 (zstd's own default;
# bonepick writes level 1 unless told otherwise)
LEVEL_3 = ("transform", "reshard")


def build(root: Path, target_mb: float, shards: int) -> tuple[int, int]:
    """Real rows, repeated in order until ``target_mb``, cut into ``shards`` equal runs."""
    rows = [
        r
        for name in ("spamassassin", "brown_paragraphs", "python_docs", "fortunes")
        for p in sorted((CORPORA / name / "train").glob("*.jsonl.zst"))
        for r in read_rows(p)
    ]
    sizes = [len(orjson.dumps(r)) + 1 for r in rows]
    picked: list[int] = []
    total = 0
    while total < target_mb * 1e6:
        index = len(picked) % len(rows)
        picked.append(index)
        total += sizes[index]
    per_shard = -(-len(picked) // shards)
    for s in range(shards):
        chunk = picked[s * per_shard : (s + 1) * per_shard]
        write_rows(root / "train" / f"shard_{s:03d}.jsonl.zst", (rows[i] for i in chunk))
    return len(picked), total


def raw_decode(root: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) to decode and parse every line in this process."""
    start, cpu = time.perf_counter(), time.process_time()
    decode_and_parse(sorted(root.rglob("*.jsonl.zst")))
    return time.perf_counter() - start, time.process_time() - cpu


def own_peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sample_worker_peak(stage: subprocess.Popen, every: float = 0.05) -> float:
    """Largest resident set (MB) of the stage process's workers, sampled from this process until
    the stage exits. The sampler runs here, not in the stage: a sampling thread inside the stage
    would take the GIL from it every few milliseconds and slow what is being measured."""
    import psutil

    peak = 0.0
    me = psutil.Process(stage.pid)
    while stage.poll() is None:
        with contextlib.suppress(psutil.Error):
            for child in me.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    peak = max(peak, child.memory_info().rss / 2**20)
        time.sleep(every)
    return peak


def run_stage(stage: str, source: Path, out: Path, procs: int, total_bytes: int, level: int | None) -> None:
    """Runs in the child process: one stage, then its timings and peak RSS as JSON. The library
    is imported before the clocks start; worker start-up (spawn, imports) is counted."""
    import bonepick.data.balance
    import bonepick.data.fasttext_format
    import bonepick.data.reshard
    import bonepick.data.sample
    import bonepick.data.transform  # noqa: F401

    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    if stage == "transform":
        from bonepick.data.transform import transform_dataset

        transform_dataset(
            [source],
            out,
            label_expression='{score: (if .label == "spam" then 0 else 1 end)}',
            compression_level=level,
            num_proc=procs,
        )
    elif stage == "convert":
        from bonepick.data.fasttext_format import convert_to_fasttext

        convert_to_fasttext([source], out, normalizer="whitespace", num_proc=procs)
    elif stage == "balance":
        from bonepick.data.balance import balance_dataset

        balance_dataset([source], out, compression_level=level, num_proc=procs)
    elif stage == "sample":
        from bonepick.data.sample import sample_dataset

        sample_dataset([source], out, target_bytes=total_bytes // 3, compression_level=level, num_proc=procs)
    elif stage == "reshard":
        from bonepick.data.reshard import reshard_dataset

        reshard_dataset([source], out, num_files=5, compression_level=level, num_proc=procs)
    seconds = time.perf_counter() - start
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = me.ru_utime + me.ru_stime - before.ru_utime - before.ru_stime + kids.ru_utime + kids.ru_stime
    result = {
        "seconds": seconds,
        "cpu": cpu,
        # ru_maxrss survives fork+exec (it would report this benchmark's own size), so the main
        # process's peak is read from VmHWM; the workers' is sampled by the parent
        "rss_main_mb": own_peak_mb(),
    }
    print(json.dumps(result))


def measure(
    stage: str, source: Path, out: Path, procs: int, total_bytes: int, level: int | None = None
) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    command = [
        sys.executable,
        __file__,
        "--stage",
        stage,
        "--source",
        str(source),
        "--out",
        str(out),
        "--procs",
        str(procs),
        "--bytes",
        str(total_bytes),
        *(["--level", str(level)] if level is not None else []),
    ]
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        stage_process = subprocess.Popen(command, stdout=stdout, stderr=stderr, text=True)
        worker_peak = sample_worker_peak(stage_process)
        stdout.seek(0)
        stderr.seek(0)
        if stage_process.returncode:
            raise SystemExit(f"{stage} failed:\n{stderr.read()}")
        result = json.loads(stdout.read().strip().splitlines()[-1])
    shutil.rmtree(out, ignore_errors=True)
    return {**result, "rss_worker_mb": worker_peak}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=100.0, help="uncompressed size of the main dataset")
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--stage", choices=STAGES)
    parser.add_argument("--source", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--procs", type=int, default=1)
    parser.add_argument("--bytes", type=int, default=0)
    parser.add_argument("--level", type=int, default=None)
    args = parser.parse_args()
    if args.stage:
        run_stage(args.stage, args.source, args.out, args.procs, args.bytes, args.level)
        return

    work = Path(tempfile.mkdtemp(prefix="bonepick-data-bench-"))
    try:
        small = work / "small"
        rows, nbytes = build(small, args.mb, args.shards)
        mb = nbytes / 1e6
        raw_wall, raw_cpu = raw_decode(small)
        raw_rate, raw_cpu_rate = mb / raw_wall, mb / raw_cpu
        print(f"dataset: {rows:,} rows, {mb:.0f} MB uncompressed JSON in {args.shards} zstd shards")
        print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
        print(
            f"raw zstd+orjson decode, 1 process: {raw_rate:.1f} MB/s wall, {rows / raw_wall:,.0f} docs/s;"
            f" {raw_cpu_rate:.1f} MB per CPU-second"
        )
        print(
            "\nMB/s = input MB per wall second; per proc = that / processes; CPU = input MB per CPU-second"
            "\n(stage and its workers, worker start-up included): the per-process rate without other load."
        )
        header = (
            f"{'stage':<19}{'procs':>5} {'MB/s':>7} {'per proc':>8} {'docs/s/proc':>11} {'raw MB/s':>9}"
            f" {'vs raw':>7} {'CPU MB/s':>9} {'CPU vs raw':>10} {'RSS main':>9} {'worker':>7}"
        )
        print(header)
        first_size: dict[str, float] = {}
        runs = [(stage, None) for stage in STAGES] + [(stage, level) for stage in LEVEL_3 for level in (3,)]
        for stage, level in runs:
            for procs in (1, 2):
                near_wall, near_cpu = raw_decode(small)  # the reference, right before the stage
                near_rate, near_cpu_rate = mb / near_wall, mb / near_cpu
                r = measure(stage, small / "train", work / "out", procs, nbytes, level)
                if procs == 1 and level is None:
                    first_size[stage] = r["rss_main_mb"]
                rate = mb / r["seconds"]
                cpu_rate = mb / r["cpu"]
                mark = ""
                if stage in PASS_THROUGH:
                    mark = "  >= 50%" if rate / procs >= 0.5 * near_rate else "  < 50%"
                name = stage if level is None else f"{stage} (zstd -{level})"
                print(
                    f"{name:<19}{procs:>5} {rate:7.1f} {rate / procs:8.1f} {rows / r['seconds'] / procs:11,.0f}"
                    f" {near_rate:9.1f} {rate / procs / near_rate:7.0%}"
                    f" {cpu_rate:9.1f} {cpu_rate / near_cpu_rate:10.0%} {r['rss_main_mb']:6.0f} MB"
                    f" {r['rss_worker_mb']:4.0f} MB{mark}"
                )
        print(f"load average after the stages: {os.getloadavg()[0]:.2f}")
        big = work / "big"
        big_rows, big_bytes = build(big, 2 * args.mb, 2 * args.shards)
        shutil.rmtree(small)
        print(f"\npeak RSS with -p 1, {mb:.0f} MB vs {big_bytes / 1e6:.0f} MB input (twice the shards)")
        for stage in ("balance", "sample", "reshard"):
            r = measure(stage, big / "train", work / "out", 1, big_bytes)
            print(f"{stage:<15} {first_size[stage]:6.0f} MB -> {r['rss_main_mb']:6.0f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
