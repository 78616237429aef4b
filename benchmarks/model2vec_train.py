"""Benchmark: bonepick's train-model2vec beside model2vec's own StaticModelForClassification.fit.

Both train the same head (1 hidden layer of 512) on the same embedded base model, the same
train/valid/test rows, batch size, learning rate and number of epochs (early stopping off), each
in a fresh subprocess so peak RSS is its own. Reported: wall time of the fit (tokenization
included, since model2vec tokenizes inside fit), docs/s per epoch (training + validation of that
epoch), peak RSS, and macro-F1 on the test split.

Corpora (all real text from ../shared/corpora, nothing synthetic):
- ``spam``: SpamAssassin ham vs spam (train 4,855 of which 10% held out for validation; test 857).
- ``pool``: >= 50k documents labelled by their source: fortunes (whole entries), brown_paragraphs
  (whole paragraph groups), python_docs and spamassassin cut at blank lines into paragraphs of
  >= 50 characters; python_docs and spamassassin capped at 15,000 train / 2,500 test paragraphs
  each (seeded sample).

``--ranking`` instead compares ``train-model2vec --regression`` with ``train-contrastive`` on an
ordinal proxy built from the pool corpus: a 0-3 "educational value" label by source (spam 0,
fortunes 1, brown 2, python_docs 3), reporting test Spearman and the AUC of the score at each
label threshold (label >= t).

``--epoch-choice`` trains bonepick's trainer alone, in-process, once choosing the best epoch by
validation macro-F1 (the earlier default) and once by validation loss (the default now), and
reports the chosen epochs and test macro-F1 per seed.

Run under the shared lock, one corpus at a time (each run stays under ~5 minutes on 2 cores):

    flock /tmp/bonepick-bench.lock uv run python benchmarks/model2vec_train.py --corpus spam --seeds 42,1,2
    flock /tmp/bonepick-bench.lock uv run python benchmarks/model2vec_train.py --corpus pool --epochs 2 --seeds 42,1,2
    flock /tmp/bonepick-bench.lock uv run python benchmarks/model2vec_train.py --ranking
    flock /tmp/bonepick-bench.lock uv run python benchmarks/model2vec_train.py --epoch-choice --seeds 42,1,2,3,4,5
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CORPORA = REPO.parent / "shared" / "corpora"
SEED = 20261121


def fixed_epochs(batch_size: int, epochs: int, device: str, seed: int):
    """The trainer's settings for a run of exactly ``epochs`` epochs (no early stopping), the
    conditions model2vec's own ``fit`` is compared under."""
    from bonepick.models.trainer import TrainConfig

    return TrainConfig(
        batch_size=batch_size, min_epochs=epochs, max_epochs=epochs, patience=None, device=device, seed=seed
    )


def _rows(dataset: str, split: str) -> list[dict]:
    from bonepick.io import find_shards, read_rows

    return [row for shard in find_shards(CORPORA / dataset / split) for row in read_rows(shard)]


def _paragraphs(rows: list[dict]) -> list[str]:
    return [p.strip() for r in rows for p in re.split(r"\n\s*\n", r["text"]) if len(p.strip()) >= 50]


def _sample(items: list, k: int, seed: int) -> list:
    if len(items) <= k:
        return items
    rng = random.Random(seed)
    return rng.sample(items, k)


def build_corpus(name: str, root: Path) -> Path:
    """Write train/valid/test shards for one corpus (reused when already there)."""
    from bonepick.io import write_rows

    folder = root / name
    if (folder / "test" / "part.jsonl.zst").is_file():
        return folder
    splits: dict[str, list[dict]] = {}
    for split in ("train", "test"):
        if name == "spam":
            rows = [{"text": r["text"], "label": r["label"]} for r in _rows("spamassassin", split)]
        else:
            cap = 15_000 if split == "train" else 2_500
            rows = [{"text": r["text"], "label": "fortunes"} for r in _rows("fortunes", split)]
            rows += [{"text": r["text"], "label": "brown"} for r in _rows("brown_paragraphs", split)]
            for source in ("python_docs", "spamassassin"):
                paragraphs = _sample(_paragraphs(_rows(source, split)), cap, SEED)
                rows += [{"text": p, "label": source} for p in paragraphs]
        random.Random(SEED).shuffle(rows)
        splits[split] = rows
    n_valid = len(splits["train"]) // 10
    splits["valid"], splits["train"] = splits["train"][:n_valid], splits["train"][n_valid:]
    for split, rows in splits.items():
        write_rows(folder / split / "part.jsonl.zst", rows)
    return folder


def _read(folder: Path, split: str) -> tuple[list[str], list[str]]:
    from bonepick.io import read_rows

    rows = list(read_rows(folder / split / "part.jsonl.zst"))
    return [r["text"] for r in rows], [r["label"] for r in rows]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_bonepick(folder: Path, epochs: int, batch_size: int, device: str, out: Path, seed: int) -> dict:
    from sklearn.metrics import f1_score

    from bonepick.models import load_model
    from bonepick.models.model2vec_train import Model2VecTrainConfig, train_model2vec

    config = Model2VecTrainConfig(
        output_dir=out,
        num_proc=1,
        overwrite=True,
        train=fixed_epochs(batch_size, epochs, device, seed),
    )
    start = time.perf_counter()
    summary = train_model2vec([folder], config)
    total = time.perf_counter() - start
    training = summary.card.training
    n_train = summary.card.data["train_rows"]
    texts, labels = _read(folder, "test")
    model = load_model(out)
    predicted = [model.labels[i] for i in model.predict(texts).argmax(axis=1)]
    return {
        "trainer": "bonepick train-model2vec",
        "fit_seconds": training["tokenize_seconds"] + training["train_seconds"],
        "total_seconds": total,
        "docs_per_second_per_epoch": [round(n_train / e["seconds"], 1) for e in training["epochs"]],
        "peak_rss_mb": _peak_rss_mb(),
        "test_macro_f1": float(f1_score(labels, predicted, average="macro")),
        "device": training["device"],
    }


def worker_model2vec(folder: Path, epochs: int, batch_size: int, device: str, out: Path, seed: int) -> dict:
    import model2vec.train.trainer as m2v_trainer
    from model2vec.train import StaticModelForClassification
    from sklearn.metrics import f1_score
    from tqdm import tqdm

    from bonepick.models.base_models import ensure_embedded_model

    epoch_seconds: list[float] = []

    class EpochClock(tqdm):  # model2vec opens one bar per epoch (training steps + that epoch's validation)
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)
            self._start = time.perf_counter()

        def __exit__(self, *exc):
            epoch_seconds.append(time.perf_counter() - self._start)
            return super().__exit__(*exc)

    m2v_trainer.tqdm = EpochClock
    base = ensure_embedded_model()
    x_train, y_train = _read(folder, "train")
    x_valid, y_valid = _read(folder, "valid")
    start = time.perf_counter()
    classifier = StaticModelForClassification.from_pretrained(path=base, n_layers=1, hidden_dim=512)
    fit_start = time.perf_counter()
    classifier.fit(
        x_train,
        y_train,
        X_val=x_valid,
        y_val=y_valid,
        learning_rate=1e-3,
        batch_size=batch_size,
        min_epochs=epochs,
        max_epochs=epochs,
        early_stopping_patience=None,
        device=device,
        random_seed=seed,
    )
    fit = time.perf_counter() - fit_start
    total = time.perf_counter() - start
    texts, labels = _read(folder, "test")
    predicted = classifier.predict(texts)
    return {
        "trainer": "model2vec StaticModelForClassification.fit",
        "fit_seconds": fit,
        "total_seconds": total,
        "docs_per_second_per_epoch": [round(len(x_train) / s, 1) for s in epoch_seconds],
        "peak_rss_mb": _peak_rss_mb(),
        "test_macro_f1": float(f1_score(labels, list(predicted), average="macro")),
        "device": device,
    }


def epoch_choice_study(folder: Path, epochs: int, seeds: list[int], device: str) -> None:
    """How the best epoch is chosen: by validation loss (bonepick's default) or by validation
    macro-F1 (its earlier default), everything else equal. In-process, the texts tokenized once."""
    import statistics

    from bonepick.models.model2vec_train import (
        Model2VecTrainConfig,
        build_model,
        load_static_model,
    )
    from bonepick.models.trainer import (
        ClassificationObjective,
        macro_f1,
        predict_outputs,
        seed_everything,
        tokenize_texts,
        train,
    )

    class ByMacroF1(ClassificationObjective):
        monitor = "macro_f1"
        mode = "max"

    _, static = load_static_model(None, 512)
    splits = {split: _read(folder, split) for split in ("train", "valid", "test")}
    classes = sorted(set(splits["train"][1]))
    index = {c: i for i, c in enumerate(classes)}
    tokens = {split: tokenize_texts(static, texts) for split, (texts, _) in splits.items()}
    y = {split: np.asarray([index[label] for label in labels]) for split, (_, labels) in splits.items()}
    batch_size = _auto_batch_size(len(y["train"]))
    print(
        f"{'best epoch by':14} {'seed':>5} {'chosen':>7} {'valid (macro-F1, loss) per epoch':<60} {'test F1':>8}"
    )
    for name, objective_class in (("macro-F1", ByMacroF1), ("loss", ClassificationObjective)):
        scores = []
        for seed in seeds:
            seed_everything(seed)
            objective = objective_class(y["train"], y["valid"], len(classes))
            model = build_model(static, len(classes), Model2VecTrainConfig(output_dir=Path("unused")))
            config = fixed_epochs(batch_size, epochs, device, seed)
            result = train(model, objective, tokens["train"], tokens["valid"], config)
            f1 = macro_f1(y["test"], predict_outputs(result.model, tokens["test"]).argmax(1), len(classes))
            scores.append(f1)
            history = ", ".join(f"({e.valid['macro_f1']:.4f}, {e.valid['loss']:.4f})" for e in result.history)
            print(f"{name:14} {seed:5d} {result.best_epoch:>4}/{len(result.history)} {history:<60} {f1:8.4f}")
        sd = statistics.stdev(scores) if len(scores) > 1 else 0.0
        print(
            f"{name:14} mean {statistics.mean(scores):.4f}  sd {sd:.4f}  range {min(scores):.4f}-{max(scores):.4f}"
        )


ORDINAL = {"spamassassin": 0, "fortunes": 1, "brown": 2, "python_docs": 3}


def ranking_comparison(work: Path, epochs: int, device: str) -> list[dict]:
    """train-model2vec --regression vs train-contrastive on the ordinal proxy of the pool corpus."""
    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score

    from bonepick.models import load_model
    from bonepick.models.contrastive import ContrastiveConfig, train_contrastive
    from bonepick.models.model2vec_train import Model2VecTrainConfig, train_model2vec
    from bonepick.models.trainer import TrainConfig

    folder = build_corpus("pool", work / "data")
    expression = "{" + ", ".join(f'"{k}": {v}' for k, v in ORDINAL.items()) + "}[.label]"
    texts, labels = _read(folder, "test")
    y = [ORDINAL[label] for label in labels]
    results = []
    for name in ("regression", "contrastive"):
        config = Model2VecTrainConfig(
            output_dir=work / f"model-{name}",
            label_expression=expression,
            task="regression",
            num_proc=1,
            overwrite=True,
            train=TrainConfig(min_epochs=epochs, max_epochs=epochs, patience=None, device=device, seed=42),
        )
        start = time.perf_counter()
        if name == "regression":
            train_model2vec([folder], config)
        else:
            train_contrastive([folder], config, ContrastiveConfig())
        seconds = time.perf_counter() - start
        scores = load_model(config.output_dir).predict(texts)
        aucs = {t: float(roc_auc_score([v >= t for v in y], scores)) for t in (1, 2, 3)}
        results.append(
            {
                "trainer": name,
                "seconds": seconds,
                "spearman": float(spearmanr(scores, y).statistic),
                "auc": aucs,
            }
        )
    return results


def _auto_batch_size(n_train: int) -> int:
    return int(min(max(1, (n_train / 30) // 32), 16) * 32)  # model2vec's rule, also bonepick's default


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", choices=["spam", "pool"], default="spam")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "bonepick-bench-model2vec")
    parser.add_argument("--ranking", action="store_true", help="compare --regression with train-contrastive")
    parser.add_argument(
        "--epoch-choice",
        action="store_true",
        help="best epoch by validation loss vs by macro-F1 (bonepick only)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--worker", choices=["bonepick", "model2vec"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--seeds", default="42", help="comma-separated seeds; each trainer runs once per seed"
    )
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--summarize",
        type=Path,
        nargs="+",
        help="print the summary of earlier --json files together and exit",
    )
    args = parser.parse_args()
    if args.summarize:
        summarize([r for path in args.summarize for r in json.loads(path.read_text())["results"]])
        return
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("BONEPICK_CACHE_DIR", str(args.work / "cache"))

    if args.worker:
        run = worker_bonepick if args.worker == "bonepick" else worker_model2vec
        seed = int(args.seeds)
        result = run(
            args.data, args.epochs, args.batch_size, args.device, args.work / f"model-{args.worker}", seed
        )
        result["seed"] = seed
        args.result.write_text(json.dumps(result))
        return

    from bonepick.models.base_models import ensure_embedded_model

    ensure_embedded_model(lambda m: print(m, file=sys.stderr))  # built once, outside the timings
    if args.ranking:
        ranking = ranking_comparison(args.work, args.epochs, args.device)
        print(
            f"ordinal proxy (pool corpus, labels 0-3 by source), {args.epochs} epochs, device {args.device}"
        )
        print(f"{'trainer':12} {'seconds':>8} {'spearman':>9} {'AUC>=1':>8} {'AUC>=2':>8} {'AUC>=3':>8}")
        for r in ranking:
            auc = r["auc"]
            print(
                f"{r['trainer']:12} {r['seconds']:8.1f} {r['spearman']:9.4f} "
                f"{auc[1]:8.4f} {auc[2]:8.4f} {auc[3]:8.4f}"
            )
        if args.json:
            args.json.write_text(json.dumps({"ranking": ranking}, indent=2))
        return
    folder = build_corpus(args.corpus, args.work / "data")
    if args.epoch_choice:
        print(f"corpus {args.corpus}, {args.epochs} epochs, device {args.device}")
        epoch_choice_study(folder, args.epochs, [int(x) for x in args.seeds.split(",")], args.device)
        return
    n_train = len(_read(folder, "train")[0])
    n_valid = len(_read(folder, "valid")[0])
    n_test = len(_read(folder, "test")[0])
    batch_size = _auto_batch_size(n_train)
    print(
        f"corpus {args.corpus}: train {n_train}, valid {n_valid}, test {n_test}; "
        f"epochs {args.epochs}, batch {batch_size}, device {args.device}, cpus {os.cpu_count()}"
    )
    seeds = [int(x) for x in args.seeds.split(",")]
    results = []
    for seed in seeds:
        for worker in ("model2vec", "bonepick"):
            result_file = args.work / f"result-{worker}.json"
            command = [
                sys.executable, __file__, "--worker", worker, "--data", str(folder), "--epochs", str(args.epochs),
                "--batch-size", str(batch_size), "--device", args.device, "--work", str(args.work),
                "--result", str(result_file), "--seeds", str(seed),
            ]  # fmt: skip
            subprocess.run(command, check=True)
            results.append(json.loads(result_file.read_text()))
    if args.json:
        args.json.write_text(
            json.dumps({"corpus": args.corpus, "n_train": n_train, "results": results}, indent=2)
        )
    summarize(results)


def summarize(results: list[dict]) -> None:
    """One line per run, then per trainer the mean, standard deviation and range over seeds."""
    import statistics

    print(
        f"{'trainer':44} {'seed':>5} {'fit s':>7} {'total s':>8} {'docs/s per epoch':>24} {'RSS MB':>7} {'macro-F1':>9}"
    )
    for r in results:
        per_epoch = ", ".join(f"{v:,.0f}" for v in r["docs_per_second_per_epoch"])
        print(
            f"{r['trainer']:44} {r['seed']:5d} {r['fit_seconds']:7.1f} {r['total_seconds']:8.1f} {per_epoch:>24} "
            f"{r['peak_rss_mb']:7.0f} {r['test_macro_f1']:9.4f}"
        )
    ours = {r["seed"]: r for r in results if r["trainer"].startswith("bonepick")}
    theirs = {r["seed"]: r for r in results if r["trainer"].startswith("model2vec")}
    seeds = sorted(set(ours) & set(theirs))
    ratios = [ours[s]["fit_seconds"] / theirs[s]["fit_seconds"] for s in seeds]
    print(
        f"{len(seeds)} seed(s); fit time bonepick / model2vec per seed: median {statistics.median(ratios):.2f}x, "
        f"range {min(ratios):.2f}-{max(ratios):.2f}x (target <= 1.10x)"
    )
    for name, runs in (("model2vec", theirs), ("bonepick", ours)):
        f1 = [runs[s]["test_macro_f1"] for s in seeds]
        sd = statistics.stdev(f1) if len(f1) > 1 else 0.0
        print(
            f"macro-F1 {name:10} mean {statistics.mean(f1):.4f}  sd {sd:.4f}  range {min(f1):.4f}-{max(f1):.4f}"
        )
    diffs = [ours[s]["test_macro_f1"] - theirs[s]["test_macro_f1"] for s in seeds]
    wins = sum(d >= 5e-5 for d in diffs)  # "equal" as printed, to 4 decimals
    ties = sum(abs(d) < 5e-5 for d in diffs)
    print(
        f"bonepick - model2vec: mean {statistics.mean(diffs):+.4f}; bonepick higher on {wins}, equal on {ties}, "
        f"lower on {len(diffs) - wins - ties} of {len(diffs)} seeds"
    )


if __name__ == "__main__":
    main()
