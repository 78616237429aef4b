"""Benchmark: train-encoder (frozen and fine-tuned) beside train-model2vec and train-fastText.

Same real data for all: the SpamAssassin corpus from ../shared/corpora (a seeded sample of
``--train-rows`` train rows, the full 857-row test split). Every model trains through the CLI
(``python -m bonepick ...``, each in its own process, with its defaults). Reported per model:

- training wall time of the command (process start, reading, tokenizing/embedding, training,
  saving; for the frozen encoder the one embedding pass dominates);
- training docs/s = training rows x epochs run / that wall time (epochs from the model card:
  the fine-tuned encoder's ``--epochs``, 1 for the frozen encoder (one encoder pass per text; its
  head's epochs over the cached embeddings cost next to nothing), Model2Vec's epochs run before
  early stopping, fastText's ``epoch``);
- inference docs/s: ``load_model(folder).predict`` on the test texts already in memory, after a
  warm-up call (median of ``--infer-repeats`` timings);
- test macro-F1 of the argmax label.

``--kinds`` picks the rows (the fine-tuned encoder takes ~12 minutes on 2 CPU cores, so run it
on its own). ``--repeats`` trains each picked model that many times (seeds 42, 43, ...) and
prints one line per run plus the median and range.

    flock /tmp/bonepick-bench.lock uv run python benchmarks/encoder.py --train-rows 1000
    flock /tmp/bonepick-bench.lock uv run python benchmarks/encoder.py --kinds model2vec,fasttext --repeats 3
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sklearn.metrics import f1_score  # noqa: E402

from bonepick.io import read_rows, write_rows  # noqa: E402
from bonepick.models import load_model  # noqa: E402
from bonepick.models.card import ModelCard  # noqa: E402

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "spamassassin"
KINDS = ("encoder-frozen", "encoder-fine-tuned", "model2vec", "fasttext")


def bonepick(*args: str) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "bonepick", *args], capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"bonepick {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return time.perf_counter() - start


def train_command(
    kind: str, data: str, ft_data: str, out: str, args: argparse.Namespace, seed: int
) -> list[str]:
    if kind == "encoder-frozen":
        return ["train-encoder", "-d", data, "-o", out, "--freeze-encoder", "--max-length", str(args.max_length),
                "--device", args.device]  # fmt: skip
    if kind == "encoder-fine-tuned":
        return ["train-encoder", "-d", data, "-o", out, "--epochs", str(args.fine_tune_epochs),
                "--max-length", str(args.max_length), "--device", args.device]  # fmt: skip
    if kind == "model2vec":
        return ["train-model2vec", "-d", data, "-o", out, "--device", args.device, "-p", "1", "-s", str(seed)]
    return ["train-fasttext", "-d", ft_data, "-o", out, "-s", str(seed)]


def epochs_run(kind: str, card: ModelCard, args: argparse.Namespace) -> int:
    if kind == "encoder-frozen":
        return 1  # one encoder pass per text; the head's epochs over cached embeddings cost ~nothing
    if kind == "encoder-fine-tuned":
        return args.fine_tune_epochs
    if kind == "model2vec":
        return int(card.training["epochs_run"])
    return int(card.hyperparameters["epoch"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-rows", type=int, default=1000)
    parser.add_argument("--max-length", type=int, default=256, help="encoder tokens")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--fine-tune-epochs", type=int, default=2)
    parser.add_argument(
        "--kinds", default=",".join(KINDS), help=f"comma-separated subset of {', '.join(KINDS)}"
    )
    parser.add_argument("--repeats", type=int, default=1, help="train each model this many times")
    parser.add_argument("--infer-repeats", type=int, default=3)
    args = parser.parse_args()
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        parser.error(f"unknown kinds {unknown}; use {', '.join(KINDS)}")
    work = Path(tempfile.mkdtemp(prefix="bonepick-encoder-bench-"))
    try:
        train = [r for p in sorted((CORPUS / "train").glob("*.zst")) for r in read_rows(p)]
        train = random.Random(0).sample(train, min(args.train_rows, len(train)))
        test = [r for p in sorted((CORPUS / "test").glob("*.zst")) for r in read_rows(p)]
        write_rows(work / "data" / "train" / "a.jsonl.zst", train)
        write_rows(work / "data" / "test" / "a.jsonl.zst", test)
        texts, truth = [r["text"] for r in test], [r["label"] for r in test]
        data, ft_data = str(work / "data"), str(work / "ft-data")
        if "fasttext" in kinds:
            bonepick("convert-to-fasttext", "-i", data, "-o", ft_data, "-p", "1")
        print(
            f"{len(train)} train rows, {len(test)} test rows, max length {args.max_length} tokens (encoders)",
            flush=True,
        )
        print(
            f"{'model':<20} {'run':>3} {'epochs':>6} {'train s':>8} {'train docs/s':>13} {'infer docs/s':>13} "
            f"{'macro-F1':>9}",
            flush=True,
        )
        for kind in kinds:
            rows = []
            for repeat in range(args.repeats):
                out = str(work / f"{kind}-{repeat}")
                seconds = bonepick(*train_command(kind, data, ft_data, out, args, 42 + repeat))
                epochs = epochs_run(kind, ModelCard.load(out), args)
                model = load_model(out)
                model.predict(texts[:8])  # warm up
                timings = []
                for _ in range(args.infer_repeats):
                    start = time.perf_counter()
                    probs = model.predict(texts)
                    timings.append(time.perf_counter() - start)
                infer = len(texts) / statistics.median(timings)
                predicted = [model.labels[i] for i in probs.argmax(1)]
                f1 = f1_score(truth, predicted, average="macro")
                rate = len(train) * epochs / seconds
                rows.append((seconds, rate, infer, f1))
                print(
                    f"{kind:<20} {repeat + 1:3d} {epochs:6d} {seconds:8.1f} {rate:13.0f} {infer:13.0f} {f1:9.4f}",
                    flush=True,
                )
            if args.repeats > 1:
                cols = list(zip(*rows, strict=True))
                med = [statistics.median(c) for c in cols]
                print(
                    f"{kind + ' median':<24} {'':6} {med[0]:8.1f} {med[1]:13.0f} {med[2]:13.0f} {med[3]:9.4f}   "
                    f"(range: train s {min(cols[0]):.1f}-{max(cols[0]):.1f}, infer docs/s "
                    f"{min(cols[2]):.0f}-{max(cols[2]):.0f}, macro-F1 {min(cols[3]):.4f}-{max(cols[3]):.4f})",
                    flush=True,
                )
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
