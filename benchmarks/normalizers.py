"""Throughput of every normalizer on a sample of the shared corpora, one core.

    flock /tmp/bonepick-bench.lock uv run python benchmarks/normalizers.py \
        [--mb 8] [--repeat 3] [-n NAME ...] \
        [--original-python /tmp/origvenv/bin/python --original-path /tmp/origshim]
    flock /tmp/bonepick-bench.lock uv run python benchmarks/normalizers.py --whole [--repeat 3] [-n NAME ...]
    flock /tmp/bonepick-bench.lock uv run python benchmarks/normalizers.py --preparer

Speeds are MB/s of input text (UTF-8 bytes) and docs/s, from the CPU time of the measuring
process with the tokenizers library limited to one thread. Each normalizer runs in a fresh
process, so the first pass starts with empty chunk caches (the honest number for a small job);
"2nd pass" runs the same texts again (closer to the steady state of a long job).
Every measurement is repeated ``--repeat`` times (fresh processes, ours and the original
alternating, so both see the same machine load); the table shows the median and the range.
With ``--original-python``/``--original-path``, the same sample is also run through bonepick
0.5.0's normalizers in that interpreter (a scratch venv where ``import bonepick.data.normalizers``
finds the original module) and both are printed side by side. The target column is issue #3's:
3x the original's speed as measured on the reference machine (``REFERENCE``).

``--whole`` measures instead on ALL the train text of the shared corpora (every
``*/train/*.jsonl.zst``, ~27 MB, in shard order, the way ``normalize-dataset`` reads it), one
pass per fresh process: what a normalize job over a whole corpus gets once the chunk caches
(bounded, as always) fill up. It prints the rate without and with the setup (tokenizer loading).
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
from statistics import median

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
# the original's in-process speed on the shared corpora (MB/s, one core), as issue #3 gives it
REFERENCE = {
    "whitespace": 53.0,
    "plsfix": 4.3,
    "tokenizer": 2.0,
    "ultrafine": 1.5,
    "ultrafine_commits": 1.2,
    "hyperfine": 1.6,
    "hyperfine_code": 1.6,
    "potion": 3.1,
    "potion_code": 3.4,
}
CORPORA = Path(__file__).resolve().parent.parent.parent / "shared" / "corpora"
BATCH = 256
WARM_UP = "Warm-up text: load the tokenizer.\n\tCafé, 42 <b>tags</b>."


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


def load_train(corpora: Path) -> list[str]:
    """Every train text of every corpus, in shard order (no sampling, no shuffling)."""
    import zstandard

    texts = []
    for path in sorted(glob.glob(str(corpora / "*" / "train" / "*.jsonl.zst"))):
        with open(path, "rb") as f:
            data = zstandard.ZstdDecompressor().stream_reader(f).read().decode("utf-8")
        texts.extend(json.loads(line)["text"] for line in data.splitlines() if line)
    return texts


def measure(
    names: list[str], texts: list[str], original: bool, second_pass: bool = True
) -> dict[str, dict[str, float]]:
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
        run(normalizer, [WARM_UP])  # load tokenizers, build tables (caches nothing of the sample)
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
        if (
            second_pass and not original
        ):  # a second pass over the same texts: steady state of the chunk caches
            again = time.process_time()
            for i in range(0, len(texts), BATCH):
                run(normalizer, texts[i : i + BATCH])
            results[name]["warm_mb_s"] = size / (time.process_time() - again)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=8.0, help="sample size in MB of text")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="runs per normalizer (median, range)")
    parser.add_argument("--corpora", type=Path, default=CORPORA)
    parser.add_argument("-n", "--normalizer", action="append", help="only these (repeatable)")
    parser.add_argument("--original-python", help="interpreter of a scratch venv with bonepick 0.5.0's deps")
    parser.add_argument("--original-path", help="folder put first on sys.path so bonepick is the original")
    parser.add_argument(
        "--whole",
        action="store_true",
        help="measure on all the train text of the corpora, one pass per fresh process",
    )
    parser.add_argument(
        "--preparer",
        action="store_true",
        help="instead: the per-document cost of TextPreparer('whitespace', max_length), in process",
    )
    parser.add_argument("--worker", choices=["ours", "original"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    names = args.normalizer or NAMES
    if args.preparer:
        preparer_table(load_sample(args.corpora, args.mb, args.seed), args.repeat)
        return

    if args.worker:  # child mode: print results as JSON
        if args.original_path:
            sys.path.insert(0, args.original_path)
        texts = load_train(args.corpora) if args.whole else load_sample(args.corpora, args.mb, args.seed)
        print(json.dumps(measure(names, texts, args.worker == "original", second_pass=not args.whole)))
        return

    def child(python: str, worker: str, name: str) -> dict:
        command = [python, __file__, "--worker", worker, "--mb", str(args.mb), "--seed", str(args.seed)]
        command += ["--corpora", str(args.corpora), "-n", name] + (["--whole"] if args.whole else [])
        if worker == "original":
            command += ["--original-path", args.original_path]
        done = subprocess.run(command, check=True, capture_output=True, text=True)
        return json.loads(done.stdout.strip().splitlines()[-1])[name]

    if args.whole:
        whole_table(args, names, child)
        return
    texts = load_sample(args.corpora, args.mb, args.seed)
    size = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    print(
        f"sample: {len(texts):,} docs, {size:.2f} MB of text from {args.corpora} (seed {args.seed}); "
        f"one core (CPU time, RAYON_NUM_THREADS=1), batches of {BATCH}; each normalizer in a fresh "
        f"process (empty caches), {args.repeat} runs"
        + (", bonepick 0.5.0 run right after each on the same texts" if args.original_python else "")
        + f"; median (min-max); load average at start {_load()}",
        flush=True,
    )
    header = "| normalizer | bonepick MB/s | docs/s | 2nd pass MB/s | setup s | target MB/s | target met |"
    rule = "|---|---:|---:|---:|---:|---:|---|"
    if args.original_python:
        header += " bonepick 0.5.0 MB/s | speed-up (1st pass) |"
        rule += "---:|---:|"
    header += " load after |"
    rule += "---:|"
    print(header)
    print(rule, flush=True)
    for name in names:  # ours and the original back to back, so both see the same machine load
        ours, orig = [], []
        for _ in range(args.repeat):
            ours.append(child(sys.executable, "ours", name))
            if args.original_python:
                orig.append(child(args.original_python, "original", name))
        target = _target(name)
        mb_s = median(r["mb_s"] for r in ours)
        line = (
            f"| {name} | {_spread([r['mb_s'] for r in ours])} | {median(r['docs_s'] for r in ours):,.0f} "
            f"| {_spread([r['warm_mb_s'] for r in ours])} | {median(r['setup_s'] for r in ours):.2f} "
            f"| {target:.1f} | {'yes' if mb_s >= target else 'NO'} |"
        )
        if args.original_python:
            ratios = [a["mb_s"] / b["mb_s"] for a, b in zip(ours, orig, strict=True)]
            line += f" {_spread([r['mb_s'] for r in orig])} | {_spread(ratios, 'x')} |"
        print(line + f" {_load()} |", flush=True)


def _target(name: str) -> float:
    """Issue #3's target: 3x the original's reference speed (whitespace: no slower than it)."""
    return REFERENCE[name] if name == "whitespace" else 3 * REFERENCE[name]


def whole_table(args: argparse.Namespace, names: list[str], child) -> None:
    texts = load_train(args.corpora)
    size = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    print(
        f"whole corpora: all train text of {args.corpora}, {len(texts):,} docs, {size:.2f} MB, "
        f"shard order; one core (CPU time, RAYON_NUM_THREADS=1), batches of {BATCH}; one pass per "
        f"fresh process (empty caches, bounded as always), {args.repeat} runs; median (min-max); "
        f"load average at start {_load()}",
        flush=True,
    )
    print(
        "| normalizer | whole-corpora MB/s | docs/s | incl. setup MB/s | setup s | target MB/s | target met | load after |"
    )
    print("|---|---:|---:|---:|---:|---:|---|---:|", flush=True)
    for name in names:
        runs = [child(sys.executable, "ours", name) for _ in range(args.repeat)]
        with_setup = [size / (size / r["mb_s"] + r["setup_s"]) for r in runs]
        mb_s = median(r["mb_s"] for r in runs)
        target = _target(name)
        print(
            f"| {name} | {_spread([r['mb_s'] for r in runs])} | {median(r['docs_s'] for r in runs):,.0f} "
            f"| {_spread(with_setup)} | {median(r['setup_s'] for r in runs):.2f} | {target:.1f} "
            f"| {'yes' if mb_s >= target else 'NO'} | {_load()} |",
            flush=True,
        )


def _load() -> str:
    """The machine's 1-minute load average (2 cores shared with other work: read numbers with it)."""
    return f"{os.getloadavg()[0]:.1f}"


def preparer_table(texts: list[str], repeat: int) -> None:
    """TextPreparer with the whitespace normalizer (what fastText inference runs per batch) against
    the per-document forms it replaces, on full documents and on their first 200 characters."""
    import re

    from bonepick.data.normalizers import collapse_whitespace
    from bonepick.data.preprocess import TextPreparer

    spaces = re.compile(r"\s+")
    ways = {
        "re.sub + strip per doc (0.5.0's way)": lambda b, m: [
            spaces.sub(" ", t).strip()[:m] if m else spaces.sub(" ", t).strip() for t in b
        ],
        "collapse_whitespace per doc, then cut": lambda b, m: [
            t[:m] if m else t for t in [collapse_whitespace(t) for t in b]
        ],
        "TextPreparer('whitespace', m).batch": lambda b, m: preparers[m].batch(b),
    }
    preparers = {m: TextPreparer("whitespace", m) for m in (None, 4000, 1000)}
    print(f"{len(texts):,} docs; batches of {BATCH}; best of {repeat}; MB/s of input and docs/s, one core")
    print("| way | max_length | full docs MB/s | docs/s | 200-char docs docs/s |")
    print("|---|---:|---:|---:|---:|")
    short = [t[:200] for t in texts]
    for max_length in (None, 4000, 1000):
        expected = None
        for label, way in ways.items():
            row = []
            for docs in (texts, short):
                best = float("inf")
                for _ in range(repeat):
                    start = time.process_time()
                    out = [
                        y for i in range(0, len(docs), BATCH) for y in way(docs[i : i + BATCH], max_length)
                    ]
                    best = min(best, time.process_time() - start)
                if docs is texts:
                    assert expected is None or out == expected, label
                    expected = out
                row.append((sum(len(t.encode("utf-8")) for t in docs) / 1e6 / best, len(docs) / best))
            print(
                f"| {label} | {max_length or '-'} | {row[0][0]:.1f} | {row[0][1]:,.0f} | {row[1][1]:,.0f} |",
                flush=True,
            )


def _spread(values: list[float], unit: str = "") -> str:
    if len(values) == 1:
        return f"{values[0]:.1f}{unit}"
    return f"{median(values):.1f}{unit} ({min(values):.1f}-{max(values):.1f})"


if __name__ == "__main__":
    main()
