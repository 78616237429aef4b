"""Benchmark: train-encoder (frozen and fine-tuned) beside train-model2vec and train-fastText.

Same real data for all: the SpamAssassin corpus from ../shared/corpora (a seeded sample of
``--train-rows`` train rows, the full 857-row test split). Reported per model: training wall time
and docs/s (training rows x epochs / seconds; for the frozen encoder the one embedding pass
dominates), inference docs/s on the test texts already in memory, and test macro-F1. The GPU is
used when one is present (``--device``).

    flock /tmp/bonepick-bench.lock uv run python benchmarks/encoder.py --train-rows 1000
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sklearn.metrics import f1_score

from bonepick.io import read_rows, write_rows
from bonepick.models import load_model

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "spamassassin"


def bonepick(*args: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bonepick", *args], check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train-rows", type=int, default=1000)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--fine-tune-epochs", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bonepick-encoder-bench-"))
    try:
        train = [r for p in sorted((CORPUS / "train").glob("*.zst")) for r in read_rows(p)]
        train = random.Random(0).sample(train, min(args.train_rows, len(train)))
        test = [r for p in sorted((CORPUS / "test").glob("*.zst")) for r in read_rows(p)]
        write_rows(work / "data" / "train" / "a.jsonl.zst", train)
        write_rows(work / "data" / "test" / "a.jsonl.zst", test)
        texts, truth = [r["text"] for r in test], [r["label"] for r in test]
        data = str(work / "data")
        runs = {
            "encoder frozen": (
                ["train-encoder", "-d", data, "-o", str(work / "enc-frozen"), "--freeze-encoder",
                 "--max-length", str(args.max_length), "--device", args.device], 1),
            "encoder fine-tuned": (
                ["train-encoder", "-d", data, "-o", str(work / "enc-ft"), "--epochs", str(args.fine_tune_epochs),
                 "--max-length", str(args.max_length), "--device", args.device], args.fine_tune_epochs),
            "model2vec": (
                ["train-model2vec", "-d", data, "-o", str(work / "m2v"), "--device", args.device, "-p", "1"], None),
        }  # fmt: skip
        bonepick("convert-to-fasttext", "-i", data, "-o", str(work / "ft-data"), "-p", "1")
        runs["fasttext"] = (["train-fasttext", "-d", str(work / "ft-data"), "-o", str(work / "ft")], None)
        print(
            f"{len(train)} train rows, {len(test)} test rows, max length {args.max_length} tokens (encoders)"
        )
        print(f"{'model':<20} {'train s':>8} {'train docs/s':>13} {'infer docs/s':>13} {'macro-F1':>9}")
        for name, (command, epochs) in runs.items():
            seconds = bonepick(*command)
            model = load_model(command[command.index("-o") + 1])
            model.predict(texts[:8])  # warm up
            start = time.perf_counter()
            probs = model.predict(texts)
            infer = len(texts) / (time.perf_counter() - start)
            predicted = [model.labels[i] for i in probs.argmax(1)]
            f1 = f1_score(truth, predicted, average="macro")
            rate = f"{len(train) * epochs / seconds:13.0f}" if epochs else f"{'-':>13}"
            print(f"{name:<20} {seconds:8.1f} {rate} {infer:13.0f} {f1:9.4f}")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
