"""fastText through bonepick vs the bindings called directly, and what the defaults give.

Corpora come from ../shared/corpora and are converted with ``bonepick convert-to-fasttext``
(normalizer whitespace) into a cache folder:

  brown     Brown documents, informative/imaginative (425 train / 75 test, ~12k chars each)
  brown_p   Brown paragraph groups, same labels (8,287 / 1,505)
  pooled    spamassassin + python_docs + fortunes + brown_paragraphs with their own labels
            (ham, spam, docs, fortune, informative, imaginative; 29,747 / 5,299)

Also: spam (spamassassin, 4,855 / 857) and chunks (the pooled corpora cut into 20-word pieces,
186,829 / 33,751; see ``chunked``).

Modes:
  overhead  train wall time: ``bonepick train-fasttext`` vs train_supervised + save_model on the
            same file with the same arguments (whole processes); then prediction throughput:
            FastTextClassifier.predict / predict_prepared vs raw model.predict(list, k=-1).
  defaults  test accuracy / macro F1 of the original tool's defaults, fastText's own defaults
            and bonepick's defaults (plus variants), trained with the raw bindings.
  ngrams    word n-grams 1 vs 2 at train-fasttext's defaults on N chunked documents (--size).
  eval      eval throughput per core: evaluate_model (shards and converted .txt) vs raw
            model.predict(list, k=-1) on the same texts in memory, interleaved rounds.
  evalwall  ``bonepick eval-fasttext`` vs a bindings script (accuracy only) and vs a bindings +
            scikit-learn script computing the same report, whole processes.
  (eval and evalwall run on pooled and chunks unless --corpus is given)
  predict   prediction throughput only, on a cached bigram model.

    flock /tmp/bonepick-bench.lock uv run python benchmarks/fasttext_bench.py overhead --corpus brown_p --thread 2
    flock /tmp/bonepick-bench.lock uv run python benchmarks/fasttext_bench.py eval --corpus spam --split train
    flock /tmp/bonepick-bench.lock uv run python benchmarks/fasttext_bench.py evalwall --repeats 3
    flock /tmp/bonepick-bench.lock uv run python benchmarks/fasttext_bench.py ngrams --size 100000 --thread 2
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bonepick.io import read_rows, write_rows

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
CACHE = Path(tempfile.gettempdir()) / "bonepick-bench-fasttext"
POOLED = ("spamassassin", "python_docs", "fortunes", "brown_paragraphs")


def _rows(corpus: str, split: str) -> list[dict]:
    return [r for p in sorted((CORPORA / corpus / split).glob("*.jsonl.zst")) for r in read_rows(p)]


def jsonl_source(name: str) -> Path:
    """The corpus as a bonepick dataset (train/ and test/ shards)."""
    if name in ("pooled", "chunks"):
        converted(name)  # writes the shards
        return CACHE / name / "jsonl"
    return CORPORA / {"brown": "brown", "brown_p": "brown_paragraphs", "spam": "spamassassin"}[name]


def converted(name: str) -> Path:
    """The corpus in fastText format (built once, then cached)."""
    if name == "chunks":
        return chunked()
    out = CACHE / name / "converted"
    if (out / "train.txt").is_file():
        return out
    if name == "pooled":
        source = CACHE / name / "jsonl"
        for split in ("train", "test"):
            rows = [
                {"text": r["text"], "label": r["label"]} for corpus in POOLED for r in _rows(corpus, split)
            ]
            write_rows(source / split / "shard_00000.jsonl.zst", rows)
    else:
        source = jsonl_source(name)
    command = [sys.executable, "-m", "bonepick", "convert-to-fasttext", "-i", str(source), "-o", str(out)]
    subprocess.run(command + ["-n", "whitespace", "-p", "2"], check=True, capture_output=True)
    return out


def test_metrics(model: Any, test_file: Path) -> tuple[float, float]:
    """Accuracy and macro F1 of a raw fastText model on a fastText-format file."""
    from sklearn.metrics import f1_score

    from bonepick.models.fasttext_files import read_labeled

    texts, gold = read_labeled([test_file])
    predicted, _ = model.predict(texts, k=1)
    top = [p[0][len("__label__") :] for p in predicted]
    truth = [g[0] for g in gold]
    accuracy = float(np.mean([a == b for a, b in zip(top, truth, strict=True)]))
    return accuracy, float(f1_score(truth, top, average="macro"))


CONFIGS: dict[str, dict[str, Any]] = {
    "original (lr .1, ng 3, mc 5, ep 3, dim 256)": dict(
        lr=0.1, wordNgrams=3, minCount=5, epoch=3, dim=256, bucket=2_000_000
    ),
    "fastText (lr .1, ng 1, mc 1, ep 5, dim 100)": dict(
        lr=0.1, wordNgrams=1, minCount=1, epoch=5, dim=100, bucket=2_000_000
    ),
    # ng and epochs are derived from the training-set size, as train-fasttext does
    "bonepick (lr .1, ng auto, mc 1, ep auto, dim 100)": dict(lr=0.1, minCount=1, dim=100),
    "  variant: original + ep auto": dict(lr=0.1, wordNgrams=3, minCount=5, dim=256, bucket=2_000_000),
    "  variant: bonepick, ng 2": dict(lr=0.1, wordNgrams=2, minCount=1, dim=100),
    "  variant: bonepick, ng 3": dict(lr=0.1, wordNgrams=3, minCount=1, dim=100),
    "  variant: bonepick, lr 0.5": dict(lr=0.5, minCount=1, dim=100),
    "  variant: bonepick, ep auto/2": dict(lr=0.1, minCount=1, dim=100, epoch_scale=0.5),
    "  variant: bonepick, ep auto*2": dict(lr=0.1, minCount=1, dim=100, epoch_scale=2.0),
}


def run_defaults(corpora: list[str], configs: list[str] | None, threads: int) -> None:
    from bonepick.models import load_model
    from bonepick.models.card import ModelCard
    from bonepick.models.fasttext_files import read_labeled, scan_split
    from bonepick.models.fasttext_train import auto_epochs, auto_word_ngrams, file_metrics
    from bonepick.models.fasttext_worker import run_worker

    for name in corpora:
        folder = converted(name)
        documents = scan_split([folder / "train.txt"], "train").documents
        texts, _ = read_labeled([folder / "test.txt"])
        print(
            f"\n## {name}: {documents} train / {len(texts)} test documents, auto epochs {auto_epochs(documents)}"
        )
        print(
            f"{'configuration':52s} {'ng':>3s} {'epochs':>6s} {'acc':>7s} {'macroF1':>7s} {'train s':>8s} {'MB':>7s}"
        )
        for label, config in CONFIGS.items():
            wanted = any(c in label for c in configs) if configs else not label.startswith("  variant")
            if not wanted:
                continue
            kwargs = dict(config)
            scale = kwargs.pop("epoch_scale", 1.0)
            kwargs.setdefault("epoch", max(1, round(auto_epochs(documents) * scale)))
            kwargs.setdefault("wordNgrams", auto_word_ngrams(documents))
            kwargs.setdefault("bucket", 2_000_000)
            with tempfile.TemporaryDirectory(dir=CACHE) as work:
                model_dir = Path(work)
                started = time.perf_counter()
                # the bindings in a fresh process (see bonepick.models.fasttext_worker for why)
                result = run_worker(
                    {
                        "mode": "train",
                        "output": str(model_dir / "model.bin"),
                        "kwargs": {
                            "input": str(folder / "train.txt"),
                            "thread": threads,
                            "seed": 0,
                            "verbose": 0,
                            **kwargs,
                        },
                    }
                )
                seconds = time.perf_counter() - started
                labels = sorted(label.removeprefix("__label__") for label in result["labels"])
                ModelCard(kind="fasttext", labels=labels).save(model_dir)
                metrics = file_metrics(load_model(model_dir), [folder / "test.txt"])
                size = (model_dir / "model.bin").stat().st_size / 1e6
            print(
                f"{label:52s} {kwargs['wordNgrams']:3d} {kwargs['epoch']:6d} {metrics['accuracy']:7.4f} {metrics['macro_f1']:7.4f} "
                f"{seconds:8.1f} {size:7.0f}",
                flush=True,
            )


RAW_TRAIN = """
import sys, fasttext
kwargs = dict(input=sys.argv[1], lr=0.1, wordNgrams=2, minCount=1, epoch=int(sys.argv[3]), dim=100,
              bucket=2000000, loss="softmax", thread=int(sys.argv[4]), seed=0, verbose=0)
fasttext.train_supervised(**kwargs).save_model(sys.argv[2])
"""


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _train_command(side: str, folder: Path, out: Path, epochs: int, threads: int) -> list[str]:
    if side == "bonepick":
        return [sys.executable, "-m", "bonepick", "train-fasttext", "-d", str(folder), "-o", str(out),
                "--dimension", "100", "--word-ngrams", "2", "--thread", str(threads), "--epoch", str(epochs),
                "--overwrite"]  # fmt: skip
    return [sys.executable, "-P", "-c", RAW_TRAIN, str(folder / "train.txt"), str(out / "model.bin"),
            str(epochs), str(threads)]  # fmt: skip


def run_overhead(corpus: str, repeats: int, threads: int, epoch: int | None) -> None:
    from bonepick.models.fasttext_files import scan_split
    from bonepick.models.fasttext_train import auto_epochs

    folder = converted(corpus)
    epochs = epoch or auto_epochs(scan_split([folder / "train.txt"], "train").documents)
    with tempfile.TemporaryDirectory(dir=CACHE) as work:
        wall: dict[str, list[float]] = {"bonepick": [], "raw": []}
        cpu: dict[str, list[float]] = {"bonepick": [], "raw": []}
        for warm_up in (
            [sys.executable, "-m", "bonepick", "train-fasttext", "--help"],
            [sys.executable, "-c", "import fasttext"],
        ):
            subprocess.run(warm_up, check=True, capture_output=True, env=_bytecode_env())  # bytecode written
        for attempt in range(repeats):
            # alternate the order so a noisy neighbour hurts both sides alike
            for side in ("bonepick", "raw") if attempt % 2 == 0 else ("raw", "bonepick"):
                out = Path(work) / f"{side}-{attempt}"
                out.mkdir()
                command = _train_command(side, folder, out, epochs, threads)
                started, cpu_started = time.perf_counter(), _child_cpu()
                subprocess.run(command, check=True, capture_output=True, env=_bytecode_env())
                wall[side].append(time.perf_counter() - started)
                cpu[side].append(_child_cpu() - cpu_started)
        print(
            f"## {corpus}: {epochs} epochs, dim 100, 2M buckets, word n-grams 2, thread={threads}; "
            f"{repeats} runs each, medians over whole processes (CLI incl. its imports vs a bare script)"
        )
        for name, values in (("wall s", wall), ("CPU s ", cpu)):
            for stat, pick in (("best", min), ("median", statistics.median)):
                ours, raw = pick(values["bonepick"]), pick(values["raw"])
                print(
                    f"train {name} {stat:6s}  bonepick train-fasttext {ours:7.2f}   raw bindings script "
                    f"{raw:7.2f}   overhead {100 * (ours / raw - 1):+.1f}%"
                )
            print(
                f"        runs {[round(x, 1) for x in values['bonepick']]} vs {[round(x, 1) for x in values['raw']]}"
            )

        measure_predict(folder, Path(work) / "bonepick-0")


def measure_predict(folder: Path, model_dir: Path) -> None:
    """Docs/s of the classifier's two entry points vs the raw bindings, CPU time of this process
    (less disturbed by other jobs than wall time), best of 9 alternating rounds."""
    from bonepick.models import load_model
    from bonepick.models.fasttext_files import read_labeled

    texts, _ = read_labeled([folder / "test.txt"])
    texts = texts * max(1, -(-20_000 // len(texts)))  # >= 20k docs per timing
    classifier = load_model(model_dir)
    model = classifier.model
    classifier.predict(texts[:100])
    sides = {
        "FastTextClassifier.predict (normalizer + one line + probabilities)": lambda: classifier.predict(
            texts
        ),
        "FastTextClassifier.predict_prepared (eval on test.txt)": lambda: classifier.predict_prepared(texts),
        "raw model.predict(list, k=-1)": lambda: model.predict(texts, k=-1),
    }
    times: dict[str, list[float]] = {name: [] for name in sides}
    for attempt in range(9):
        order = list(sides) if attempt % 2 == 0 else list(reversed(sides))
        for name in order:
            started = time.process_time()
            sides[name]()
            times[name].append(time.process_time() - started)
    # the best of 9 alternating rounds: the least disturbed by other processes on the machine
    rates = {name: len(texts) / min(values) for name, values in times.items()}
    raw_rate = rates["raw model.predict(list, k=-1)"]
    print(f"predict {len(texts)} docs (test.txt repeated), 1 core, CPU time, best of 9:")
    for name, rate in rates.items():
        print(f"  {name:70s} {rate:9,.0f} docs/s   {rate / raw_rate:.2f}x raw")


def run_predict(corpus: str, epoch: int) -> None:
    """Prediction throughput only, on a bigram model (dim 100, 2M buckets) trained once and cached."""
    from bonepick.models.fasttext_train import FastTextParams, train_fasttext

    folder = converted(corpus)
    model_dir = CACHE / corpus / f"model-ng2-ep{epoch}"
    if not (model_dir / "bonepick_model.yaml").is_file():
        params = FastTextParams(word_ngrams=2, epoch=epoch, dimension=100, thread=2, seed=0)
        train_fasttext([folder], model_dir, params, overwrite=True)
    print(f"## {corpus}: bigram model, dim 100, 2M buckets")
    measure_predict(folder, model_dir)


def default_model(corpus: str) -> Path:
    """A model trained once with train-fasttext's defaults (2 threads) on the converted corpus."""
    from bonepick.models.fasttext_train import FastTextParams, train_fasttext

    model_dir = CACHE / corpus / "model-defaults"
    if not (model_dir / "bonepick_model.yaml").is_file():
        train_fasttext([converted(corpus)], model_dir, FastTextParams(thread=2, seed=0), overwrite=True)
    return model_dir


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):9,.0f}  [{min(values):,.0f} - {max(values):,.0f}]"


def run_eval(corpus: str, split: str, repeats: int) -> None:
    """Eval throughput per core: ``evaluate_model`` (read shards, jq, normalizer, one-line
    cleaning, predict, probability matrix, row hashes, metrics) vs the raw bindings'
    ``model.predict(list, k=-1)`` on the same texts already in memory. CPU time of this process,
    the sides interleaved in every round (order alternating); median and [min - max] of the
    rounds, and the ratio taken within each round."""
    from bonepick.data.expressions import Expression
    from bonepick.data.preprocess import TextPreparer
    from bonepick.evaluate.evaluate import EvalOptions, evaluate_model
    from bonepick.evaluate.sources import iter_fasttext, resolve_sources
    from bonepick.models import load_model

    model_dir = default_model(corpus)
    dataset = jsonl_source(corpus)
    text_file = converted(corpus) / f"{split}.txt"
    classifier = load_model(model_dir)
    card, model = classifier.card, classifier.model
    text_expr = Expression(card.text_expression)
    raw = [
        text_expr.text(row) for source in resolve_sources([dataset], split) for row in read_rows(source.path)
    ]
    as_read = [t.replace("\n", " ") for t in raw]  # the least the bindings accept: one line each
    prepared = [t.replace("\n", " ") for t in TextPreparer(card.normalizer, card.max_length).batch(raw)]
    from_file = [text for _, _, text, _ in iter_fasttext(text_file)]
    assert len(from_file) == len(raw)
    # a small split is read several times (-d given again) so that every timing covers >= 20k
    # docs: rounds of a fraction of a second are too noisy on a shared machine
    times = max(1, -(-20_000 // len(raw)))
    raw, as_read, prepared, from_file = (texts * times for texts in (raw, as_read, prepared, from_file))
    n, chars = len(raw), sum(map(len, raw))
    options = EvalOptions(split=split)
    evaluations = []

    def evaluate(source: Path) -> None:
        evaluations.append(evaluate_model(model_dir, [source] * times, options, model=classifier))

    sides = {
        "eval, shards (read+jq+normalize+predict+metrics)": lambda: evaluate(dataset),
        "eval, converted .txt (read+predict+metrics)": lambda: evaluate(text_file),
        "raw model.predict(list, k=-1), normalized text": lambda: model.predict(prepared, k=-1),
        "raw model.predict(list, k=-1), text as read": lambda: model.predict(as_read, k=-1),
        "raw model.predict(list, k=-1), .txt lines": lambda: model.predict(from_file, k=-1),
    }
    model.predict(prepared[:200], k=-1)  # warm up: page the model in, import the metrics' modules
    evaluate(text_file)
    cpu: dict[str, list[float]] = {name: [] for name in sides}
    wall: dict[str, list[float]] = {name: [] for name in sides}
    for attempt in range(repeats):
        for name in list(sides) if attempt % 2 == 0 else list(reversed(sides)):
            started, cpu_started = time.perf_counter(), time.process_time()
            sides[name]()
            cpu[name].append(time.process_time() - cpu_started)
            wall[name].append(time.perf_counter() - started)
    print(
        f"## {corpus} ({dataset.name}) {split} split{f' read {times} times' if times > 1 else ''}: {n:,} docs, "
        f"{chars / n:,.0f} chars/doc; "
        f"model {model_dir.name}: word n-grams {card.hyperparameters.get('word_ngrams')}, "
        f"normalizer {card.normalizer}; {repeats} interleaved rounds, 1 core"
    )
    print(f"{'path':52s} {'docs/s per CPU-second':>31s} {'docs/s wall':>30s}")
    for name in sides:
        print(
            f"{name:52s} {_spread([n / s for s in cpu[name]]):>31s} {_spread([n / s for s in wall[name]]):>30s}"
        )
    pairs = (
        ("eval, shards", "raw model.predict(list, k=-1), normalized text"),
        ("eval, shards", "raw model.predict(list, k=-1), text as read"),
        ("eval, converted .txt", "raw model.predict(list, k=-1), .txt lines"),
    )
    for ours, theirs in pairs:
        name = next(k for k in sides if k.startswith(ours))
        ratios = [b / a for a, b in zip(cpu[name], cpu[theirs], strict=True)]
        print(
            f"ratio {ours} / {theirs.removeprefix('raw ')}: median {statistics.median(ratios):.3f}x "
            f"[{min(ratios):.3f} - {max(ratios):.3f}] (CPU time; target >= 0.8x)"
        )
    last = evaluations[-2] if evaluations[-1].sources[0].format == "fasttext" else evaluations[-1]
    print(
        f"last shard eval, wall: stream {last.stream_seconds:.3f}s (predict {last.predict_seconds:.3f}s), "
        f"metrics {last.seconds - last.load_seconds - last.stream_seconds:.3f}s; "
        f"accuracy {last.metrics['accuracy']:.4f}"
    )


# what both bindings scripts do first: load the model, read the fastText file, predict every label
_RAW_EVAL_READ = """
import sys, fasttext, numpy as np
model = fasttext.load_model(sys.argv[1])
gold, texts = [], []
with open(sys.argv[2], encoding="utf-8") as handle:
    for line in handle:
        label, _, text = line.rstrip("\\n").partition(" ")
        gold.append(label)
        texts.append(text)
labels, probs = model.predict(texts, k=-1)
"""

RAW_EVAL = (
    _RAW_EVAL_READ
    + """
print(np.mean([row[0] == g for row, g in zip(labels, gold)]))
"""
)

# the same evaluation report as bonepick's (per-class precision/recall/F1, macro averages,
# ROC-AUC and average precision per class, confusion matrix), written against the bindings
# and scikit-learn directly
RAW_EVAL_METRICS = (
    _RAW_EVAL_READ
    + """
from sklearn.metrics import (accuracy_score, average_precision_score, confusion_matrix,
                             precision_recall_fscore_support, roc_auc_score)
classes = sorted(set(model.get_labels()))
column = {c: i for i, c in enumerate(classes)}
proba = np.zeros((len(texts), len(classes)))
for row, (names, values) in enumerate(zip(labels, probs)):
    proba[row, [column[n] for n in names]] = values
y = np.array([column[g] for g in gold])
pred = proba.argmax(axis=1)
p, r, f, s = precision_recall_fscore_support(y, pred, labels=list(range(len(classes))), zero_division=0)
aucs = [roc_auc_score(y == i, proba[:, i]) for i in range(len(classes)) if 0 < (y == i).sum() < len(y)]
aps = [average_precision_score(y == i, proba[:, i]) for i in range(len(classes)) if (y == i).any()]
print(accuracy_score(y, pred), f.mean(), np.mean(aucs), np.mean(aps), confusion_matrix(y, pred).sum())
"""
)


def _bytecode_env() -> dict[str, str]:
    """Child processes that keep compiled bytecode (in the cache folder), as an installed
    package does; this machine sets PYTHONDONTWRITEBYTECODE, which makes every start compile
    every imported module again (seconds for SciPy)."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(CACHE / "pycache")
    return env


def run_eval_wall(corpus: str, split: str, repeats: int) -> None:
    """Eval wall time of whole processes: ``bonepick eval-fasttext`` (CLI start, card, reading,
    predicting, all metrics, results YAML) vs a bare script that loads the model with the
    bindings, reads the same fastText file, predicts every label and computes accuracy, and vs a
    script that computes the same report as bonepick with the bindings and scikit-learn."""
    model_dir = default_model(corpus)
    folder = converted(corpus)
    env = _bytecode_env()
    commands = {
        "bonepick eval-fasttext": [sys.executable, "-m", "bonepick", "eval-fasttext", "-d", str(folder),
                                   "-m", str(model_dir), "--split", split],
        "raw bindings script": [sys.executable, "-P", "-c", RAW_EVAL, str(model_dir / "model.bin"),
                                str(folder / f"{split}.txt")],
        "bindings + scikit-learn report": [sys.executable, "-P", "-c", RAW_EVAL_METRICS,
                                           str(model_dir / "model.bin"), str(folder / f"{split}.txt")],
    }  # fmt: skip
    for command in commands.values():  # warm up: bytecode written, files in the page cache
        subprocess.run(command, check=True, capture_output=True, env=env)
    wall: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    for attempt in range(repeats):
        for name in list(commands) if attempt % 2 == 0 else list(reversed(commands)):
            started, cpu_started = time.perf_counter(), _child_cpu()
            subprocess.run(commands[name], check=True, capture_output=True, env=env)
            wall[name].append(time.perf_counter() - started)
            cpu[name].append(_child_cpu() - cpu_started)
    docs = (folder / f"{split}.txt").read_bytes().count(b"\n")
    print(
        f"## {corpus} {split}.txt: {docs:,} docs, model {model_dir.name}; {repeats} alternating runs of whole "
        f"processes (target: eval wall time overhead <= +10%)"
    )
    ours, *baselines = commands
    for raw in baselines:
        for stat, values in (("wall s", wall), ("CPU s ", cpu)):
            a, b = statistics.median(values[ours]), statistics.median(values[raw])
            print(
                f"eval {stat} median  {ours} {a:6.2f}   {raw} {b:6.2f}   overhead {a - b:+.2f}s "
                f"{100 * (a / b - 1):+.1f}%   runs {[round(x, 2) for x in values[ours]]} vs "
                f"{[round(x, 2) for x in values[raw]]}"
            )


CHUNK_WORDS = 20


def chunked() -> Path:
    """The pooled corpora cut into 20-word pieces (a piece of fewer than 5 words is dropped), each
    with its document's label; train and test pieces come from the corpora's own splits and are
    shuffled (seed 0). About 178k train / 32k test documents: enough to train on either side of
    the 100k-document switch to word bigrams."""
    import random

    out = CACHE / "chunks" / "converted"
    if (out / "train.txt").is_file():
        return out
    source = CACHE / "chunks" / "jsonl"
    for split in ("train", "test"):
        rows = []
        for corpus in POOLED:
            for row in _rows(corpus, split):
                words = row["text"].split()
                for start in range(0, len(words), CHUNK_WORDS):
                    piece = words[start : start + CHUNK_WORDS]
                    if len(piece) >= 5:
                        rows.append({"text": " ".join(piece), "label": row["label"]})
        random.Random(0).shuffle(rows)
        write_rows(source / split / "shard_00000.jsonl.zst", rows)
    command = [sys.executable, "-m", "bonepick", "convert-to-fasttext", "-i", str(source), "-o", str(out)]
    subprocess.run(command + ["-n", "whitespace", "-p", "2"], check=True, capture_output=True)
    return out


def run_ngrams(sizes: list[int], ngrams: list[int], threads: int, seeds: list[int]) -> None:
    """Word n-grams 1 vs 2 with every other setting at train-fasttext's defaults (epochs derived
    from the size), on the first N shuffled pieces of the chunked corpus, through bonepick's own
    training function; scored on the whole chunked test split."""
    import shutil

    from bonepick.models import load_model
    from bonepick.models.fasttext_train import FastTextParams, auto_epochs, file_metrics, train_fasttext

    folder = chunked()
    with open(folder / "train.txt", encoding="utf-8") as handle:
        train_lines = handle.readlines()
    test_docs = (folder / "test.txt").read_bytes().count(b"\n")
    print(
        f"## chunks: {len(train_lines):,} train / {test_docs:,} test pieces of <= {CHUNK_WORDS} words, 6 labels"
    )
    print(
        f"{'train docs':>10s} {'ng':>3s} {'epochs':>6s} {'seed':>4s} {'acc':>7s} {'macroF1':>7s} {'train s':>8s} {'MB':>6s}"
    )
    for size in sizes:
        work = CACHE / "chunks" / f"n{size}"
        work.mkdir(parents=True, exist_ok=True)
        (work / "train.txt").write_text("".join(train_lines[:size]), encoding="utf-8")
        shutil.copyfile(folder / "test.txt", work / "test.txt")
        for ng in ngrams:
            for seed in seeds:
                model_dir = work / f"model-ng{ng}-s{seed}"
                params = FastTextParams(word_ngrams=ng, thread=threads, seed=seed)
                started = time.perf_counter()
                train_fasttext([work], model_dir, params, overwrite=True)
                seconds = time.perf_counter() - started
                metrics = file_metrics(load_model(model_dir), [work / "test.txt"])
                size_mb = (model_dir / "model.bin").stat().st_size / 1e6
                print(
                    f"{min(size, len(train_lines)):10,d} {ng:3d} {auto_epochs(min(size, len(train_lines))):6d} {seed:4d} "
                    f"{metrics['accuracy']:7.4f} {metrics['macro_f1']:7.4f} {seconds:8.1f} {size_mb:6.0f}",
                    flush=True,
                )
                shutil.rmtree(model_dir)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=("overhead", "defaults", "predict", "eval", "ngrams", "evalwall"))
    parser.add_argument("--corpus", action="append", choices=("brown", "brown_p", "pooled", "spam", "chunks"))
    parser.add_argument("--split", default="test", help="eval: the split to score [default: test]")
    parser.add_argument("--size", type=int, action="append", help="ngrams: training documents (repeat)")
    parser.add_argument("--ngrams", type=int, action="append", help="ngrams: word n-grams [default: 1 and 2]")
    parser.add_argument("--seed", type=int, action="append", help="ngrams: seeds [default: 0]")
    parser.add_argument(
        "--config",
        action="append",
        help="configurations whose name contains this [default: all but variants]",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--thread", type=int, default=1)
    parser.add_argument(
        "--epoch", type=int, help="overhead: epochs for both sides [default: bonepick's auto]"
    )
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    # eval and evalwall: a 5k-document and a 34k-document test set (a fixed start-up cost weighs
    # less on the bigger one; both are printed)
    corpora = args.corpus or (
        ["pooled", "chunks"] if args.mode in ("eval", "evalwall") else ["brown", "pooled"]
    )
    if args.mode == "defaults":
        run_defaults(corpora, args.config, args.thread)
    elif args.mode == "ngrams":
        run_ngrams(
            args.size or [50_000, 100_000, 200_000], args.ngrams or [1, 2], args.thread, args.seed or [0]
        )
    elif args.mode == "evalwall":
        for corpus in corpora:
            run_eval_wall(corpus, args.split, args.repeats)
    elif args.mode == "eval":
        for corpus in corpora:
            run_eval(corpus, args.split, args.repeats)
    elif args.mode == "predict":
        for corpus in corpora:
            run_predict(corpus, args.epoch or 5)
    else:
        for corpus in corpora:
            run_overhead(corpus, args.repeats, args.thread, args.epoch)


if __name__ == "__main__":
    main()
