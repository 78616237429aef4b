"""Scoring throughput of `bonepick infer` beside the raw library rate, for fastText and Model2Vec.

Builds a corpus of >= 200k documents from ../shared/corpora (the train rows of spamassassin,
python_docs, fortunes and brown_paragraphs, shuffled once with a fixed seed and repeated), trains a
small fastText and a small Model2Vec ham/spam model on spamassassin with the bonepick CLI (cached),
then measures, one thread per process, both wall time and CPU time (CPU time is what a busy
shared machine distorts least; wall time on idle cores is what a user sees):

  raw      the model library on texts already in memory and already normalized:
           fastText `model.predict(list, k=-1)`, Model2Vec `StaticModelPipeline.predict_proba(list)`
  prep     bonepick's text preparation (the card's normalizer) alone, on the same texts
  -p 1     `bonepick infer` end to end: read zstd JSONL, normalize, predict, write attribute files
  -p 2     the same with two worker processes

and the peak resident memory of the whole process tree (scoring an eighth of the corpus and the
whole corpus, to show that memory does not grow with the corpus).

    flock /tmp/bonepick-bench.lock uv run python benchmarks/infer.py [--docs 210000] [--shards 16]
"""

from __future__ import annotations

import os

# one thread per process everywhere (raw rates and workers), so rates are per core
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_RS_NUM_CPUS"):
    os.environ[_var] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ["BONEPICK_NO_PROGRESS"] = "1"

import argparse  # noqa: E402
import random  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import psutil  # noqa: E402
import yaml  # noqa: E402

from bonepick.io import read_rows, write_rows  # noqa: E402

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
CACHE = Path(tempfile.gettempdir()) / "bonepick-bench-infer"
SOURCES = ("spamassassin", "python_docs", "fortunes", "brown_paragraphs")


def bonepick(*args: str | Path) -> None:
    command = [sys.executable, "-m", "bonepick", *map(str, args)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")


def base_rows() -> list[dict]:
    rows = [
        {"id": f"{name}/{r['id']}", "text": r["text"]}
        for name in SOURCES
        for p in sorted((CORPORA / name / "train").glob("*.jsonl.zst"))
        for r in read_rows(p)
    ]
    random.Random(20261121).shuffle(rows)
    return rows


def build_corpus(root: Path, rows: list[dict], docs: int, shards: int) -> tuple[int, int]:
    """``docs`` documents (rows repeated with new ids) in ``shards`` equal zstd shards."""
    if root.is_dir() and len(list(root.glob("*.jsonl.zst"))) == shards:
        total = sum(1 for p in root.glob("*.jsonl.zst") for _ in read_rows(p))
        if total == docs:
            return total, sum(p.stat().st_size for p in root.glob("*.jsonl.zst"))
    shutil.rmtree(root, ignore_errors=True)
    per = -(-docs // shards)

    def shard(s: int):
        for i in range(s * per, min(docs, (s + 1) * per)):
            row = rows[i % len(rows)]
            yield {"id": f"{row['id']}#{i // len(rows)}", "text": row["text"]}

    for s in range(shards):
        write_rows(root / f"shard_{s:03d}.jsonl.zst", shard(s))
    return docs, sum(p.stat().st_size for p in root.glob("*.jsonl.zst"))


def train_models() -> dict[str, Path]:
    spam = CORPORA / "spamassassin"
    ft, m2v = CACHE / "models" / "fasttext", CACHE / "models" / "model2vec"
    if not (ft / "bonepick_model.yaml").is_file():
        converted = CACHE / "models" / "fasttext_input"
        bonepick("convert-to-fasttext", "-i", spam, "-o", converted, "-n", "whitespace", "--overwrite")
        bonepick("train-fasttext", "-d", converted, "-o", ft, "--thread", "2", "--overwrite")
    if not (m2v / "bonepick_model.yaml").is_file():
        bonepick(
            "train-model2vec",
            "-d",
            spam,
            "-o",
            m2v,
            "--max-epochs",
            "2",
            "--device",
            "cpu",
            "-p",
            "2",
            "--overwrite",
        )
    return {"fasttext": ft, "model2vec": m2v}


class Clock:
    """Wall and CPU seconds of this process (CPU time is what a busy shared machine distorts least)."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def raw_rate(kind: str, model_dir: Path, texts: list[str]) -> dict[str, float]:
    """docs/s (wall and CPU) of the library on prepared texts, and of bonepick's preparation alone."""
    from bonepick.data.preprocess import TextPreparer
    from bonepick.models import ModelCard

    card = ModelCard.load(model_dir)
    with Clock() as prep:
        prepared = TextPreparer(card.normalizer, card.max_length).batch(texts)
    if kind == "fasttext":
        import fasttext

        model = fasttext.load_model(str(model_dir / "model.bin"))
        lines = [t.replace("\n", " ") for t in prepared]
        with Clock() as clock:
            model.predict(lines, k=-1, threshold=0.0)
    else:
        from model2vec.inference import StaticModelPipeline

        pipeline = StaticModelPipeline.from_pretrained(model_dir)
        with Clock() as clock:
            pipeline.predict_proba(prepared, batch_size=1024, show_progress_bar=False)
    n = len(texts)
    return {"wall": n / clock.wall, "cpu": n / clock.cpu, "prep_cpu": n / max(prep.cpu, 1e-9)}


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_infer(model_dir: Path, inputs: list[Path], out: Path, procs: int) -> dict:
    """Run `bonepick infer` in a subprocess: its throughput record, the CPU seconds of the whole
    process tree (workers included, start-up included) and the tree's peak resident memory."""
    shutil.rmtree(out, ignore_errors=True)
    args = ["infer", "-m", model_dir, "-o", out, "-n", "q", "-p", procs]
    for path in inputs:
        args += ["-i", path]
    command = [sys.executable, "-m", "bonepick", *map(str, args)]
    cpu_before = children_cpu()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    parent = psutil.Process(process.pid)
    peak = 0
    while process.poll() is None:
        try:
            tree = [parent, *parent.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.05)
    stdout, stderr = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{stdout.decode()}\n{stderr.decode()}")
    record = yaml.safe_load((out / "bonepick.yaml").read_text())
    return {**record["throughput"], "cpu_seconds": children_cpu() - cpu_before, "peak_rss_mb": peak / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=210_000)
    parser.add_argument("--shards", type=int, default=16)
    parser.add_argument("--models", default="fasttext,model2vec")
    parser.add_argument("--raw-docs", type=int, default=0, help="texts for the raw rate [default: one copy]")
    args = parser.parse_args()

    rows = base_rows()
    corpus = CACHE / "corpus"
    docs, size = build_corpus(corpus, rows, args.docs, args.shards)
    shards = sorted(corpus.glob("*.jsonl.zst"))
    text_bytes = sum(len(r["text"].encode()) for r in rows) / len(rows)
    print(
        f"corpus: {docs:,} documents in {len(shards)} shards ({size / 1e6:.0f} MB zstd), "
        f"{len(rows):,} distinct texts, {text_bytes:,.0f} bytes of text per document on average"
    )
    print(f"cpus: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.2f}")
    models = train_models()
    texts = [r["text"] for r in rows][: args.raw_docs or None]
    out = CACHE / "out"
    for kind in args.models.split(","):
        model_dir = models[kind]
        raw = raw_rate(kind, model_dir, texts)
        eighth = run_infer(model_dir, shards[: max(1, len(shards) // 8)], out, 1)
        one = run_infer(model_dir, [corpus], out, 1)
        two = run_infer(model_dir, [corpus], out, 2)
        print(f"\n{kind}  ({model_dir}), raw rates on {len(texts):,} texts in memory, already prepared")
        print(
            f"  raw library, 1 thread:   {raw['wall']:>8,.0f} docs/s wall   {raw['cpu']:>8,.0f} docs per CPU-second"
        )
        print(
            f"  text preparation alone:                        {raw['prep_cpu']:>10,.0f} docs per CPU-second"
        )
        for label, result in (("-p 1", one), ("-p 2", two)):
            per_cpu = result["documents"] / result["cpu_seconds"]
            print(
                f"  bonepick infer {label}: {result['docs_per_second']:>8,.0f} docs/s wall "
                f"({result['mb_per_second']:.1f} MB/s, {result['seconds']:.1f}s)   "
                f"{per_cpu:>8,.0f} docs per CPU-second = {per_cpu / raw['cpu']:.2f}x raw "
                f"(whole process tree, start-up and model loading included); "
                f"{result['docs_per_cpu_second']:,.0f} = {result['docs_per_cpu_second'] / raw['cpu']:.2f}x raw "
                f"on the shards alone; peak RSS {result['peak_rss_mb']:,.0f} MB"
            )
        print(
            f"  -p 2 over -p 1: {two['docs_per_second'] / one['docs_per_second']:.2f}x wall; CPU-seconds "
            f"{one['cpu_seconds']:.1f} (-p 1) vs {two['cpu_seconds']:.1f} (-p 2)"
        )
        print(
            f"  peak RSS -p 1, an eighth vs the whole corpus: {eighth['peak_rss_mb']:,.0f} MB vs "
            f"{one['peak_rss_mb']:,.0f} MB ({eighth['documents']:,} vs {one['documents']:,} documents)"
        )
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
