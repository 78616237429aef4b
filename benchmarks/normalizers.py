"""Throughput of every normalizer on a sample of the shared corpora, one core.

    flock /tmp/bonepick-bench.lock uv run python benchmarks/normalizers.py \
        [--mb 4] [--original-python /tmp/origvenv/bin/python --original-path /tmp/origshim]

Speeds are MB/s of input text (UTF-8 bytes) and docs/s, from the CPU time of the measuring
process with the tokenizers library limited to one thread. Each normalizer runs in a fresh
process, so the first pass starts with empty chunk caches (the honest number for a small job);
"2nd pass" runs the same texts again (closer to the steady state of a long job).
With ``--original-python``/``--original-path``, the same sample is also run through bonepick
0.5.0's normalizers in that interpreter (a scratch venv where ``import bonepick.data.normalizers``
finds the original module) and both are printed side by side.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

os.environ["RAYON_NUM_THREADS"] = "1"  # one core: tokenizers' batch calls must not fan out
os.environ["TOKENIZERS_PARALLELISM"] = "false"

NAMES = [
    "whitespace",
    "plsfix",
    "tokenizer",
    "ultrafine",
    "ultrafine_commits",
    "hyperfine",
    "hyperfine_code",
    "potion",
    "potion_code",
]
CORPORA = Path(__file__).resolve().parent.parent.parent / "shared" / "corpora"
BATCH = 256


def load_sample(corpora: Path, megabytes: float, seed: int) -> list[str]:
    """Texts from every shard of every corpus, shuffled with ``seed``, up to ``megabytes``."""
    import zstandard

    texts = []
    for path in sorted(glob.glob(str(corpora / "*" / "*" / "*.jsonl.zst"))):
        with open(path, "rb") as f:
            data = zstandard.ZstdDecompressor().stream_reader(f).read().decode("utf-8")
        texts.extend(json.loads(line)["text"] for line in data.splitlines() if line)
    random.Random(seed).shuffle(texts)
    sample, size = [], 0
    for text in texts:
        if size >= megabytes * 1e6:
            break
        sample.append(text)
        size += len(text.encode("utf-8"))
    return sample


def measure(names: list[str], texts: list[str], original: bool) -> dict[str, dict[str, float]]:
    if original:
        from bonepick.data.normalizers import get_normalizer  # bonepick 0.5.0

        def run(normalizer, batch):
            return [normalizer.normalize(t) for t in batch]
    else:
        from bonepick.data.normalizers import get_normalizer

        def run(normalizer, batch):
            return normalizer.normalize_batch(batch)

    size = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    results = {}
    for name in names:
        start = time.process_time()
        normalizer = get_normalizer(name)
        run(normalizer, texts[:BATCH])  # warm up: load tokenizers, build tables
        setup = time.process_time() - start
        cpu, wall = time.process_time(), time.perf_counter()
        for i in range(0, len(texts), BATCH):
            run(normalizer, texts[i : i + BATCH])
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        results[name] = {
            "mb_s": size / cpu,
            "docs_s": len(texts) / cpu,
            "wall_mb_s": size / wall,
            "setup_s": setup,
        }
        if not original:  # a second pass over the same texts: steady state of the chunk caches
            again = time.process_time()
            for i in range(0, len(texts), BATCH):
                run(normalizer, texts[i : i + BATCH])
            results[name]["warm_mb_s"] = size / (time.process_time() - again)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=8.0, help="sample size in MB of text")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--corpora", type=Path, default=CORPORA)
    parser.add_argument("-n", "--normalizer", action="append", help="only these (repeatable)")
    parser.add_argument("--original-python", help="interpreter of a scratch venv with bonepick 0.5.0's deps")
    parser.add_argument("--original-path", help="folder put first on sys.path so bonepick is the original")
    parser.add_argument("--worker", choices=["ours", "original"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    names = args.normalizer or NAMES

    if args.worker:  # child mode: print results as JSON
        if args.original_path:
            sys.path.insert(0, args.original_path)
        texts = load_sample(args.corpora, args.mb, args.seed)
        print(json.dumps(measure(names, texts, args.worker == "original")))
        return

    def child(python: str, worker: str, name: str) -> dict:
        command = [python, __file__, "--worker", worker, "--mb", str(args.mb), "--seed", str(args.seed)]
        command += ["--corpora", str(args.corpora), "-n", name]
        if worker == "original":
            command += ["--original-path", args.original_path]
        done = subprocess.run(command, check=True, capture_output=True, text=True)
        return json.loads(done.stdout.strip().splitlines()[-1])[name]

    texts = load_sample(args.corpora, args.mb, args.seed)
    size = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    print(
        f"sample: {len(texts):,} docs, {size:.2f} MB of text from {args.corpora} (seed {args.seed}); "
        f"one core (CPU time, RAYON_NUM_THREADS=1), batches of {BATCH}; each normalizer in a fresh "
        "process (empty caches), bonepick 0.5.0 run right after it on the same texts",
        flush=True,
    )
    header = "| normalizer | bonepick MB/s | docs/s | 2nd pass MB/s | setup s |"
    rule = "|---|---:|---:|---:|---:|"
    if args.original_python:
        header += " bonepick 0.5.0 MB/s | docs/s | speed-up (1st pass) |"
        rule += "---:|---:|---:|"
    print(header)
    print(rule, flush=True)
    for name in names:  # ours and the original back to back, so both see the same machine load
        ours = child(sys.executable, "ours", name)
        line = (
            f"| {name} | {ours['mb_s']:.1f} | {ours['docs_s']:,.0f} | {ours['warm_mb_s']:.1f} "
            f"| {ours['setup_s']:.2f} |"
        )
        if args.original_python:
            orig = child(args.original_python, "original", name)
            line += f" {orig['mb_s']:.1f} | {orig['docs_s']:,.0f} | {ours['mb_s'] / orig['mb_s']:.1f}x |"
        print(line, flush=True)


if __name__ == "__main__":
    main()
