"""``bootstrap``: from a description of the classes to a trained classifier, with an LLM as teacher.

The loop (every step writes its result under the output folder, so a rerun resumes where it stopped):

1. ``rules.md``: the rules model turns the description into labelling rules (or ``--rules FILE``);
2. ``test/``: a seeded sample of the raw documents labelled by the label model, frozen;
3. ``iter_XX/``: the documents selected for this iteration (``selected.json``), the cumulative
   labelled set (``data/``), the model (``model/``) and its agreement with the LLM on the test set
   (``metrics.json``); a new iteration while below the target and under ``max_iters``;
4. ``final/``: the last iteration's model; ``progress.yaml`` / ``progress.csv``: the table.

Labelling goes through :func:`bonepick.annotate.runner.annotate_dataset`, so requests are cached
in SQLite, rate-limited and retried like ``annotate-dataset``: nothing is paid twice.
"""

from __future__ import annotations

import csv
import hashlib
import heapq
import io
import math
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml

from bonepick.errors import DataError, UsageError
from bonepick.io import discover_datasets, iter_rows, read_rows, write_rows
from bonepick.io.atomic import atomic_write_text

TRAINERS = ("fasttext", "model2vec")
SETTINGS_FILE = "bootstrap.yaml"
RULES_FILE = "rules.md"
DATA_SHARD = "part_00.jsonl.zst"

RULES_TEMPLATE = """You write labelling rules for annotators who will sort documents into these classes:
{% for c in classes.split(',') %}- {{ c }}
{% endfor %}
What the person who needs the classifier wants:

{{ description }}

Write clear, concrete rules in Markdown: for each class, what belongs to it, typical signals, and
how to decide borderline cases. Every document must get exactly one class. Answer in JSON with the
rules in the "rules" field."""

LABEL_TEMPLATE_HEAD = """Label the document with exactly one of these classes: {classes}.

Follow these rules:

{{% raw %}}{rules}{{% endraw %}}

"""
LABEL_TEMPLATE_DOC = """<document>
{{ text }}
</document>

Answer in JSON with the class in the "label" field."""


@dataclass
class BootstrapConfig:
    """Every setting of a bootstrap run; the ones that shape the data are checked on resume."""

    inputs: list[Path]
    output_dir: Path
    classes: list[str]
    description: str
    rules_model: str = "gpt-4.1"
    label_model: str = "gpt-4.1-mini"
    base_url: str | None = None
    api_key_env: str | None = None
    cache_path: Path | None = None
    trainer: str = "fasttext"
    initial_size: int = 500
    increment: int = 500
    test_size: int = 500
    required_accuracy: float = 0.9
    max_iters: int = 5
    balance: bool = False
    predict_rest: bool = False
    rules_file: Path | None = None
    text_expression: str = ".text"
    id_expression: str = ".id"
    max_concurrent: int = 16
    max_text_length: int | None = 8000
    seed: int = 0
    num_proc: int = 1

    def check(self) -> None:
        if len(self.classes) < 2:
            raise UsageError("--classes needs at least two class names, e.g. --classes keep,drop")
        if len(set(self.classes)) != len(self.classes):
            raise UsageError(f"--classes has duplicates: {','.join(self.classes)}")
        for name in self.classes:
            if not name or any(ch.isspace() or ch == "," for ch in name):
                raise UsageError(f"class name '{name}' must be a single word")
        if self.trainer not in TRAINERS:
            raise UsageError(f"unknown --trainer '{self.trainer}'", hint=f"use one of: {', '.join(TRAINERS)}")
        for option, value in (
            ("--initial-size", self.initial_size),
            ("--increment", self.increment),
            ("--test-size", self.test_size),
            ("--max-iters", self.max_iters),
        ):
            if value < 1:
                raise UsageError(f"{option} must be at least 1, got {value}")
        if not 0 < self.required_accuracy <= 1:
            raise UsageError(f"--required-accuracy must be in (0, 1], got {self.required_accuracy}")
        if not self.description.strip() and self.rules_file is None:
            raise UsageError("--description is empty", hint="describe the classes, or give --rules FILE")

    def identity(self) -> dict[str, Any]:
        """What the saved data depends on: a rerun with other values must use a new folder."""
        return {
            "classes": self.classes,
            "seed": self.seed,
            "test_size": self.test_size,
            "initial_size": self.initial_size,
            "increment": self.increment,
            "balance": self.balance,
            "trainer": self.trainer,
            "label_model": self.label_model,
            "inputs": [str(p) for p in self.inputs],
        }


@dataclass
class Metrics:
    """Agreement of a model with the LLM labels of the test set."""

    n: int
    accuracy: float
    ci_low: float
    ci_high: float
    macro_f1: float
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class Iteration:
    index: int
    train_size: int
    label_counts: dict[str, int]
    metrics: Metrics
    requests: int = 0


@dataclass
class BootstrapResult:
    iterations: list[Iteration]
    reached: bool
    final_model: Path
    rules_path: Path
    test_size: int
    test_counts: dict[str, int]
    resumed: list[int]
    requests: int
    skipped_unlabelled: int
    predictions: Path | None = None


# ------------------------------------------------------------------------------------ statistics


def wilson_interval(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (sound near 0 and 1, unlike the normal one)."""
    if n == 0:
        return 0.0, 1.0
    p = correct / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def agreement(truth: list[str], predicted: list[str], classes: list[str]) -> Metrics:
    n = len(truth)
    correct = sum(t == p for t, p in zip(truth, predicted, strict=True))
    low, high = wilson_interval(correct, n)
    per_class = {}
    for name in classes:
        tp = sum(t == name and p == name for t, p in zip(truth, predicted, strict=True))
        fp = sum(t != name and p == name for t, p in zip(truth, predicted, strict=True))
        fn = sum(t == name and p != name for t, p in zip(truth, predicted, strict=True))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {"precision": precision, "recall": recall, "f1": f1, "support": tp + fn}
    present = [c for c in classes if per_class[c]["support"] > 0] or classes
    macro = sum(per_class[c]["f1"] for c in present) / len(present)
    return Metrics(n, correct / n if n else 0.0, low, high, macro, per_class)


# ------------------------------------------------------------------------------------------ pool


def pool_size(config: BootstrapConfig) -> int:
    """How many documents the loop can ever look at: the test set, every iteration's selection,
    and the wider window uncertainty sampling picks the last selection from."""
    window = 3 * config.increment if config.balance else 0
    return config.test_size + config.initial_size + (config.max_iters - 1) * config.increment + window


def _pool_key(seed: int, doc_id: str) -> int:
    digest = hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8, key=str(seed).encode()).digest()
    return int.from_bytes(digest, "big")


def load_pool(config: BootstrapConfig) -> list[dict[str, Any]]:
    """The documents the loop may label, ``{"id", "text"}``, in a seeded order.

    Every document gets a key hashed from (seed, id), so the order does not depend on how the
    input is sharded or read. One streaming pass keeps only the :func:`pool_size` documents with
    the smallest keys (a bounded heap), so memory does not grow with the corpus.
    """
    from bonepick.data.expressions import Expression

    text_expr = Expression(config.text_expression)
    id_expr = Expression(config.id_expression)
    budget = pool_size(config)
    heap: list[tuple[int, str, str]] = []  # (-key, id, text): the largest kept key on top
    for dataset in discover_datasets(config.inputs):
        for split in dataset.splits:
            for shard in dataset.shards(split):
                for line, row in iter_rows(shard):
                    text = text_expr.first(row, shard, line)
                    if not isinstance(text, str):
                        raise DataError(f"'{config.text_expression}' is not a string", shard, line)
                    doc_id = str(id_expr.first(row, shard, line))
                    entry = (-_pool_key(config.seed, doc_id), doc_id, text)
                    if len(heap) < budget:
                        heapq.heappush(heap, entry)
                    elif entry > heap[0]:
                        heapq.heapreplace(heap, entry)
    ordered = sorted(heap, reverse=True)  # smallest key first
    for (_, first, _), (_, second, _) in zip(ordered, ordered[1:], strict=False):
        if first == second:
            raise UsageError(
                f"document id '{first}' appears twice", hint="give --id-expression a unique field"
            )
    return [{"id": doc_id, "text": text} for _, doc_id, text in ordered]


# ------------------------------------------------------------------------------------- labelling


class Teacher:
    """Writes the rules and labels documents, through the cached annotation runner."""

    def __init__(self, config: BootstrapConfig, work: Path) -> None:
        from bonepick.annotate.client import ClientSettings

        self.config = config
        self.work = work
        self.client = ClientSettings(base_url=config.base_url, api_key_env=config.api_key_env)
        self.requests = 0

    def _annotate(self, name: str, rows: list[dict[str, Any]], prompt: Any, model: str) -> list[dict]:
        from bonepick.annotate.client import RequestParams
        from bonepick.annotate.runner import AnnotateConfig, annotate_dataset

        source = self.work / name / "input"
        target = self.work / name / "output"
        shard = source / "train" / DATA_SHARD
        if not shard.exists():
            write_rows(shard, rows)
        annotate = AnnotateConfig(
            prompt=prompt,
            params=RequestParams(model=model, temperature=0.0),
            client=self.client,
            max_concurrent=self.config.max_concurrent,
            max_text_length=self.config.max_text_length,
            cache_path=self.config.cache_path,
        )
        result = annotate_dataset([source], target, annotate, num_proc=1)
        self.requests += int(result.totals.get("requests", 0))
        return list(read_rows(target / "train" / DATA_SHARD))

    def write_rules(self, classes: list[str], description: str) -> str:
        from bonepick.annotate.prompts import prompt_from_dict

        prompt = prompt_from_dict(
            {
                "name": "bootstrap_rules",
                "template": RULES_TEMPLATE,
                "inputs": ["description", "classes"],
                "schema": {
                    "type": "object",
                    "properties": {"rules": {"type": "string"}},
                    "required": ["rules"],
                    "additionalProperties": False,
                },
            },
            "bootstrap rules prompt",
            "bootstrap_rules",
            "bootstrap",
        )
        row = {"id": "rules", "description": description, "classes": ",".join(classes)}
        (answer,) = self._annotate("rules", [row], prompt, self.config.rules_model)
        output = answer.get("bootstrap_rules")
        if not output or not str(output.get("rules", "")).strip():
            raise DataError("the rules model gave no rules; rerun to try again (answers are cached)")
        return str(output["rules"]).strip() + "\n"

    def label(self, name: str, docs: list[dict[str, Any]], rules: str) -> tuple[list[dict], int]:
        """Labelled rows ``{"id", "text", "label"}``; rows without a valid label are counted, not kept."""
        from bonepick.annotate.prompts import prompt_from_dict

        classes = self.config.classes
        template = LABEL_TEMPLATE_HEAD.format(classes=", ".join(classes), rules=rules) + LABEL_TEMPLATE_DOC
        prompt = prompt_from_dict(
            {
                "name": "bootstrap_label",
                "template": template,
                "schema": {
                    "type": "object",
                    "properties": {"label": {"type": "string", "enum": classes}},
                    "required": ["label"],
                    "additionalProperties": False,
                },
            },
            "bootstrap label prompt",
            "bootstrap_label",
            "bootstrap",
        )
        labelled, missing = [], 0
        for row in self._annotate(name, docs, prompt, self.config.label_model):
            label = (row.get("bootstrap_label") or {}).get("label")
            if label in classes:
                labelled.append({"id": row["id"], "text": row["text"], "label": label})
            else:
                missing += 1
        return labelled, missing


# -------------------------------------------------------------------------------------- training


def train_model(config: BootstrapConfig, data_dir: Path, model_dir: Path, work: Path) -> None:
    """Train the chosen trainer on ``data_dir/train`` into ``model_dir`` (replaced if present)."""
    if model_dir.exists():
        shutil.rmtree(model_dir)
    if config.trainer == "fasttext":
        from bonepick.data.fasttext_format import convert_to_fasttext
        from bonepick.models.fasttext_train import FastTextParams, train_fasttext

        converted = work / "fasttext"
        convert_to_fasttext([data_dir], converted, num_proc=1, overwrite=True)
        train_fasttext([converted], model_dir, FastTextParams(seed=config.seed, thread=1), overwrite=True)
    else:
        from bonepick.models.model2vec_train import Model2VecTrainConfig, train_model2vec

        m2v = Model2VecTrainConfig(output_dir=model_dir, num_proc=1, overwrite=True)
        m2v.train.seed = config.seed
        train_model2vec([data_dir], m2v)


def predict_labels(model_dir: Path, texts: list[str]) -> tuple[list[str], Any]:
    from bonepick.models import load_model

    model = load_model(model_dir)
    probs = model.predict(texts) if texts else None
    labels = model.labels
    if probs is None:
        return [], None
    return [labels[i] for i in probs.argmax(axis=1)], probs


def select_uncertain(
    model_dir: Path, candidates: list[dict[str, Any]], count: int, labelled_counts: Counter
) -> list[dict[str, Any]]:
    """``count`` candidates: rarer predicted classes first, least confident first within a class."""
    predicted, probs = predict_labels(model_dir, [d["text"] for d in candidates])
    by_class: dict[str, list[tuple[float, int]]] = {}
    for i, label in enumerate(predicted):
        by_class.setdefault(label, []).append((float(probs[i].max()), i))
    queues = {label: sorted(items) for label, items in by_class.items()}
    order = sorted(queues, key=lambda c: (labelled_counts.get(c, 0), c))
    chosen: list[int] = []
    while len(chosen) < count and any(queues.values()):
        for label in order:
            if queues[label] and len(chosen) < count:
                chosen.append(queues[label].pop(0)[1])
    return [candidates[i] for i in sorted(chosen)]


# ------------------------------------------------------------------------------------------- run


def _read_json(path: Path) -> Any:
    return orjson.loads(path.read_bytes())


def _write_json(path: Path, value: Any) -> None:
    atomic_write_text(path, orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode())


def _check_settings(config: BootstrapConfig, root: Path) -> None:
    path = root / SETTINGS_FILE
    identity = config.identity()
    if path.exists():
        saved = yaml.safe_load(path.read_text()) or {}
        changed = sorted(k for k, v in identity.items() if saved.get(k) != v)
        if changed:
            raise UsageError(
                f"{root} holds a bootstrap run made with other {', '.join(changed)}",
                hint="use a new --output-dir, or the same settings to resume",
            )
    else:
        atomic_write_text(path, yaml.safe_dump(identity, sort_keys=True))


def progress_rows(iterations: list[Iteration]) -> list[dict[str, Any]]:
    return [
        {
            "iteration": it.index,
            "train_size": it.train_size,
            "accuracy": round(it.metrics.accuracy, 4),
            "ci_low": round(it.metrics.ci_low, 4),
            "ci_high": round(it.metrics.ci_high, 4),
            "macro_f1": round(it.metrics.macro_f1, 4),
            **{f"f1_{c}": round(v["f1"], 4) for c, v in it.metrics.per_class.items()},
        }
        for it in iterations
    ]


def _write_progress(root: Path, iterations: list[Iteration], target: float) -> None:
    rows = progress_rows(iterations)
    atomic_write_text(
        root / "progress.yaml",
        yaml.safe_dump({"required_accuracy": target, "iterations": rows}, sort_keys=False),
    )
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    atomic_write_text(root / "progress.csv", buffer.getvalue())


def _iteration_from(path: Path) -> Iteration:
    raw = _read_json(path)
    return Iteration(
        raw["index"], raw["train_size"], raw["label_counts"], Metrics(**raw["metrics"]), raw["requests"]
    )


def run_bootstrap(
    config: BootstrapConfig, message: Callable[[str], None] = lambda _m: None
) -> BootstrapResult:
    """Run (or resume) the whole loop; see the module docstring."""
    from bonepick.annotate.client import resolve_api_key

    config.check()
    root = Path(config.output_dir)
    root.mkdir(parents=True, exist_ok=True)
    _check_settings(config, root)
    work = root / ".work"
    pool = load_pool(config)
    if len(pool) < config.test_size + config.initial_size:
        raise UsageError(
            f"the input has {len(pool)} documents; --test-size {config.test_size} + "
            f"--initial-size {config.initial_size} need more",
            hint="lower --test-size / --initial-size",
        )
    teacher = Teacher(config, work)
    resolve_api_key(teacher.client)  # fail before any work

    # 1. rules
    rules_path = root / RULES_FILE
    if config.rules_file is not None:
        if not config.rules_file.is_file():
            raise UsageError(f"--rules file not found: {config.rules_file}")
        rules = config.rules_file.read_text()
        if not rules_path.exists() or rules_path.read_text() != rules:
            atomic_write_text(rules_path, rules)
    elif rules_path.exists():
        rules = rules_path.read_text()
        message(f"rules: reusing {rules_path}")
    else:
        message(f"rules: asking {config.rules_model}")
        rules = teacher.write_rules(config.classes, config.description)
        atomic_write_text(rules_path, rules)

    # 2. frozen test set
    skipped = 0
    test_file = root / "test" / "test" / DATA_SHARD
    if test_file.exists():
        test_rows = list(read_rows(test_file))
    else:
        message(f"test set: labelling {config.test_size} documents")
        test_rows, missing = teacher.label("test", pool[: config.test_size], rules)
        skipped += missing
        write_rows(test_file, test_rows)
    test_ids = {r["id"] for r in pool[: config.test_size]}
    if len(test_rows) < 2:
        raise DataError("fewer than 2 test documents got a label; check the rules and the label model")
    rest = [d for d in pool[config.test_size :] if d["id"] not in test_ids]

    # 3. iterations
    iterations: list[Iteration] = []
    resumed: list[int] = []
    labelled: list[dict[str, Any]] = []
    used: set[str] = set()
    reached = False
    for index in range(1, config.max_iters + 1):
        folder = root / f"iter_{index:02d}"
        data_file = folder / "data" / "train" / DATA_SHARD
        metrics_file = folder / "metrics.json"
        if metrics_file.exists() and data_file.exists():
            iteration = _iteration_from(metrics_file)
            labelled = list(read_rows(data_file))
            used.update(_read_json(folder / "selected.json"))
            resumed.append(index)
        else:
            selected_file = folder / "selected.json"
            if selected_file.exists():
                ids = set(_read_json(selected_file))
                chosen = [d for d in rest if d["id"] in ids]
            else:
                remaining = [d for d in rest if d["id"] not in used]
                size = config.initial_size if index == 1 else config.increment
                if not remaining:
                    message("no unlabelled documents are left")
                    break
                if index > 1 and config.balance:
                    window = remaining[: max(4 * size, size)]
                    chosen = select_uncertain(
                        root / f"iter_{index - 1:02d}" / "model",
                        window,
                        size,
                        Counter(r["label"] for r in labelled),
                    )
                else:
                    chosen = remaining[:size]
                _write_json(selected_file, [d["id"] for d in chosen])
            before = teacher.requests
            message(f"iteration {index}: labelling {len(chosen)} documents")
            new_rows, missing = teacher.label(f"iter_{index:02d}", chosen, rules)
            skipped += missing
            labelled = labelled + new_rows
            write_rows(data_file, labelled)
            write_rows(folder / "data" / "test" / DATA_SHARD, test_rows)
            message(f"iteration {index}: training {config.trainer} on {len(labelled)} documents")
            train_model(config, folder / "data", folder / "model", work / f"iter_{index:02d}")
            predicted, _ = predict_labels(folder / "model", [r["text"] for r in test_rows])
            metrics = agreement([r["label"] for r in test_rows], predicted, config.classes)
            iteration = Iteration(
                index,
                len(labelled),
                dict(sorted(Counter(r["label"] for r in labelled).items())),
                metrics,
                teacher.requests - before,
            )
            _write_json(metrics_file, asdict(iteration))
            used.update(d["id"] for d in chosen)
        iterations.append(iteration)
        _write_progress(root, iterations, config.required_accuracy)
        if iteration.metrics.accuracy >= config.required_accuracy:
            reached = True
            break

    # 4. final model
    if not iterations:
        raise DataError("no iteration could run: nothing was left to label")
    last = root / f"iter_{iterations[-1].index:02d}" / "model"
    final = root / "final"
    tmp = root / ".final.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    shutil.copytree(last, tmp)
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)

    predictions = None
    if config.predict_rest:
        from bonepick.infer.run import infer

        predictions = root / "predictions"
        message("scoring every raw document with the final model")
        infer(
            config.inputs,
            predictions,
            final,
            name="bootstrap",
            text_expression=config.text_expression,
            id_expression=config.id_expression,
            num_proc=config.num_proc,
        )

    return BootstrapResult(
        iterations=iterations,
        reached=reached,
        final_model=final,
        rules_path=rules_path,
        test_size=len(test_rows),
        test_counts=dict(sorted(Counter(r["label"] for r in test_rows).items())),
        resumed=resumed,
        requests=teacher.requests,
        skipped_unlabelled=skipped,
        predictions=predictions,
    )
