"""Training and quantizing fastText classifiers in-process, on folders from ``convert-to-fasttext``.

Defaults that scale: fastText's usual settings (3 epochs, learning rate 0.1) are tuned for
millions of documents and underfit small sets, so the number of epochs is derived from the
training-set size unless it is given (see :func:`auto_epochs`). The measurements behind the
defaults are in ``docs/worklog/fasttext.md``.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bonepick.errors import DataError, InputNotFoundError, ModelError, UsageError
from bonepick.io.atomic import atomic_path
from bonepick.models.card import ModelCard
from bonepick.models.fasttext import (
    MODEL_FILE,
    QUANTIZED_FILE,
    FastTextClassifier,
    find_model_file,
    load_fasttext_file,
    strip_prefix,
)
from bonepick.models.fasttext_files import (
    ConvertedDir,
    SplitStats,
    join_split,
    open_converted,
    open_converted_dirs,
    read_labeled,
    scan_split,
)
from bonepick.models.fasttext_worker import WorkerError, run_autotune, run_worker

LOSSES = ("softmax", "hs", "ova", "ns")

#: epochs at 10k training documents; fewer for more documents (see auto_epochs)
EPOCHS_AT_10K = 25
MIN_EPOCHS, MAX_EPOCHS = 3, 50


def auto_epochs(documents: int) -> int:
    """Epochs for a training set: 25 at 10k documents, scaled by 1/sqrt(size), kept in [3, 50].

    About 50 at <=2.5k documents, 16 at 25k, 8 at 100k, 3 from 700k documents on (fastText's
    own default, which is right for millions of documents).
    """
    if documents <= 0:
        return MAX_EPOCHS
    epochs = EPOCHS_AT_10K * math.sqrt(10_000 / documents)
    return int(min(MAX_EPOCHS, max(MIN_EPOCHS, round(epochs))))


#: from this many training documents on, word bigrams are used by default
BIGRAMS_FROM = 100_000


def auto_word_ngrams(documents: int) -> int:
    """Unigrams below 100k training documents, bigrams from there on.

    Measured (worklog): with the derived epochs, unigrams beat bigrams on 425, 8k and 30k
    documents and give 8-25x smaller models (no hash buckets). Bigrams pay off with more data
    (the fastText paper's large sets, DCLM's classifier), where 2M buckets are well used.
    """
    return 1 if documents < BIGRAMS_FROM else 2


def default_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


#: defaults of the arguments that are not derived from the data (CLI names)
DEFAULTS: dict[str, Any] = {
    "learning_rate": 0.1,
    "min_count": 1,
    "bucket": 2_000_000,
    "min_char_ngram": 0,
    "max_char_ngram": 0,
    "window_size": 5,
    "dimension": 100,
    "num_negatives": 5,
}


@dataclass
class FastTextParams:
    """Hyperparameters; ``None`` means "not given": a default from :data:`DEFAULTS`, a value
    derived from the data (epoch, loss, thread), or with autotune a value autotune searches."""

    learning_rate: float | None = None
    word_ngrams: int | None = None
    min_count: int | None = None
    epoch: int | None = None
    bucket: int | None = None
    min_char_ngram: int | None = None
    max_char_ngram: int | None = None
    window_size: int | None = None
    dimension: int | None = None
    loss: str | None = None
    num_negatives: int | None = None
    thread: int | None = None
    pretrained_vectors: Path | None = None
    seed: int = 0

    def value(self, name: str) -> Any:
        given = getattr(self, name)
        return DEFAULTS[name] if given is None else given

    def validate(self) -> None:
        positive = {
            "learning_rate": "--learning-rate",
            "word_ngrams": "--word-ngrams",
            "min_count": "--min-count",
            "epoch": "--epoch",
            "window_size": "--window-size",
            "dimension": "--dimension",
            "num_negatives": "--num-negatives",
            "thread": "--thread",
        }
        for name, flag in positive.items():
            given = getattr(self, name)
            if given is not None and given <= 0:
                raise UsageError(f"{flag} must be above 0, got {given}")
        for name, flag in {
            "bucket": "--bucket",
            "min_char_ngram": "--min-char-ngram",
            "max_char_ngram": "--max-char-ngram",
        }.items():
            given = getattr(self, name)
            if given is not None and given < 0:
                raise UsageError(f"{flag} must be 0 or more, got {given}")
        if self.loss is not None and self.loss not in LOSSES:
            raise UsageError(f"unknown loss '{self.loss}'", hint=f"use one of: {', '.join(LOSSES)}")
        minn, maxn = self.value("min_char_ngram"), self.value("max_char_ngram")
        if maxn and maxn < minn:
            raise UsageError(f"--max-char-ngram ({maxn}) is smaller than --min-char-ngram ({minn})")
        if (self.word_ngrams or 1) > 1 and self.value("bucket") == 0:
            raise UsageError("--word-ngrams above 1 needs hash buckets; --bucket must be above 0")

    def resolve(
        self, documents: int, multi_label: bool, autotune: bool = False
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """The fastText keyword arguments, and which values were derived (and why).

        With ``autotune`` only what the user gave is passed (autotune searches the rest), plus
        the loss and the thread count, which autotune does not choose.
        """
        derived: dict[str, str] = {}
        values: dict[str, Any] = {}
        for name in DEFAULTS:
            if getattr(self, name) is not None or not autotune:
                values[name] = self.value(name)
        if self.word_ngrams is not None:
            values["word_ngrams"] = self.word_ngrams
        elif not autotune:
            values["word_ngrams"] = auto_word_ngrams(documents)
            derived["word_ngrams"] = f"from {documents} training documents"
        if self.epoch is not None:
            values["epoch"] = self.epoch
        elif not autotune:
            values["epoch"] = auto_epochs(documents)
            derived["epoch"] = f"from {documents} training documents"
        values["loss"] = self.loss
        if self.loss is None:
            values["loss"] = "ova" if multi_label else "softmax"
            derived["loss"] = "from multi-label data" if multi_label else "from single-label data"
        if self.pretrained_vectors is not None:
            vector_dim = pretrained_dimension(self.pretrained_vectors)
            if self.dimension is not None and self.dimension != vector_dim:
                raise UsageError(
                    f"--dimension {self.dimension} differs from the pretrained vectors' {vector_dim}",
                    hint="leave --dimension out to use the vectors' dimension",
                )
            if self.dimension is None:
                derived["dimension"] = "from the pretrained vectors"
            values["dimension"] = vector_dim
            values["pretrained_vectors"] = str(self.pretrained_vectors)
        values["thread"] = self.thread
        if self.thread is None:
            values["thread"] = default_threads()
            derived["thread"] = "from the CPUs available"
        values["seed"] = self.seed
        return {FASTTEXT_NAMES[name]: value for name, value in values.items()}, derived


def pretrained_dimension(path: Path) -> int:
    """The dimension in the header of a ``.vec`` text file (``<words> <dim>``)."""
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"no such pretrained vectors file: {path}")
    with open(path, "rb") as handle:
        header = handle.readline().split()
    if len(header) != 2 or not all(part.isdigit() for part in header):
        raise DataError(
            "not a fastText .vec file (the first line must be '<words> <dimension>')",
            path,
            1,
            hint="use the text .vec file, not the .bin",
        )
    return int(header[1])


#: the card's (and the CLI's) name -> keyword name in the bindings
FASTTEXT_NAMES = {
    "learning_rate": "lr",
    "word_ngrams": "wordNgrams",
    "min_count": "minCount",
    "epoch": "epoch",
    "bucket": "bucket",
    "min_char_ngram": "minn",
    "max_char_ngram": "maxn",
    "window_size": "ws",
    "dimension": "dim",
    "loss": "loss",
    "num_negatives": "neg",
    "thread": "thread",
    "seed": "seed",
    "pretrained_vectors": "pretrainedVectors",
}


@dataclass
class TrainResult:
    model_dir: Path
    card: ModelCard
    seconds: float
    train: SplitStats
    valid: SplitStats | None
    valid_metrics: dict[str, Any] | None
    warnings: list[str] = field(default_factory=list)


def _fastText_call(request: dict[str, Any], show_output: bool = False) -> dict[str, Any]:
    """Run a fastText job in its own process, turning the errors users can cause into clear
    messages."""
    try:
        return run_worker(request, show_output=show_output)
    except WorkerError as error:
        _raise_fasttext_error(error)
        raise  # pragma: no cover - _raise_fasttext_error always raises


def _raise_fasttext_error(error: WorkerError) -> None:
    text = str(error).strip()
    if "NaN" in text:
        raise ModelError(
            "fastText diverged (Encountered NaN)",
            hint="lower --learning-rate (and check the data: very few distinct words can do this)",
        ) from None
    if "Empty vocabulary" in text:
        raise DataError(
            f"fastText found no words to learn from ({text})",
            hint="lower --min-count, or check that the text after the labels is not empty",
        ) from None
    if "enough time to train once" in text or "finished no trial" in text:
        raise UsageError(f"fastText's autotune: {text}", hint="raise --autotune-duration") from None
    raise ModelError(f"fastText failed: {text}") from None


def memory_limit() -> int:
    """Half the machine's memory: the address-space cap of an autotune process."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 8 << 30


def _autotune(job: dict[str, Any], output: str, derived: dict[str, str]) -> dict[str, Any]:
    """fastText's autotune for its choice of arguments, then the final training in a fresh
    process (autotune's own final training reuses its trials' memory, see fasttext_worker).

    Trials that would need more than half the machine's memory (autotune samples up to 10M
    buckets x 1000 dimensions) fail to allocate and are skipped instead of swapping the host.
    """
    request = {
        "mode": "train",
        "memory_limit": memory_limit(),
        "kwargs": {**job, "verbose": 3},
    }
    try:
        best, how = run_autotune(request, float(job["autotuneDuration"]))
    except WorkerError as error:
        _raise_fasttext_error(error)
        raise  # pragma: no cover - _raise_fasttext_error always raises
    fixed = {k: v for k, v in job.items() if not k.startswith("autotune")}
    derived["autotune"] += f"; {how}, trained again in a fresh process"
    return _fastText_call(
        {"mode": "train", "output": output, "kwargs": {**fixed, **best}}, job["verbose"] > 0
    )


def _label_order(dirs: list[ConvertedDir], trained: list[str]) -> list[str]:
    """The conversion reports' label order, then any other trained label sorted."""
    order: list[str] = []
    for d in dirs:
        for label in d.conversion.get("labels") or []:
            if str(label) in trained and str(label) not in order:
                order.append(str(label))
    return order + sorted(set(trained) - set(order))


def split_input(dirs: list[ConvertedDir], split: str, workdir: Path) -> tuple[Path | None, SplitStats | None]:
    """One checked file for ``split`` across the folders (joined in ``workdir`` when several)."""
    paths = [p for d in dirs if (p := d.split(split)) is not None]
    if not paths:
        return None, None
    if len(paths) == 1:
        return paths[0], scan_split(paths, split)
    joined = workdir / f"{split}.txt"
    return joined, join_split(paths, joined, split)


def train_fasttext(
    dataset_dirs: list[Path],
    output_dir: Path,
    params: FastTextParams,
    *,
    autotune_duration: int | None = None,
    overwrite: bool = False,
    verbose: int = 0,
) -> TrainResult:
    """Train on the folders' ``train.txt`` (joined in order), write ``model.bin`` and the card."""
    params.validate()
    if autotune_duration is not None and autotune_duration < 1:
        raise UsageError("--autotune-duration must be at least 1 second")
    if autotune_duration is not None and params.bucket is not None:
        # fastText's autotune zeroes a fixed bucket count for trials without n-grams, then
        # divides by it in the next trial (the process dies of SIGFPE)
        raise UsageError(
            "--bucket cannot be fixed with --autotune-duration (fastText's autotune crashes)",
            hint="leave --bucket out; autotune chooses it",
        )
    output_dir = Path(output_dir)
    model_path = output_dir / MODEL_FILE
    if model_path.exists() and not overwrite:
        raise UsageError(f"{model_path} already exists", hint="pass --overwrite to replace it")
    dirs = open_converted_dirs(dataset_dirs)
    warnings = [
        f"{d.root} has no fasttext_conversion.yaml; the card records no normalizer"
        for d in dirs
        if not d.conversion
    ]
    output_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=".bonepick-fasttext-", dir=output_dir) as work:
        train_path, train_stats = split_input(dirs, "train", Path(work))
        valid_path, valid_stats = split_input(dirs, "valid", Path(work))
        assert train_path is not None and train_stats is not None
        multi_label = bool(
            any(d.conversion.get("multi_label") for d in dirs) or train_stats.multi_label_lines
        )
        autotune = autotune_duration is not None
        kwargs, derived = params.resolve(train_stats.documents, multi_label, autotune=autotune)
        if autotune:
            if valid_path is None:
                raise UsageError(
                    "--autotune-duration needs a validation split, and no folder has valid.txt",
                    hint="convert with a valid/ split, or leave out --autotune-duration",
                )
            kwargs.update(autotuneValidationFile=str(valid_path), autotuneDuration=int(autotune_duration))
            derived["autotune"] = f"ran {autotune_duration}s against valid.txt, choosing what was not given"
        with atomic_path(model_path) as tmp:
            job = {"input": str(train_path), "verbose": verbose, **kwargs}
            if autotune:
                trained = _autotune(job, str(tmp), derived)
            else:
                trained = _fastText_call({"mode": "train", "output": str(tmp), "kwargs": job}, verbose > 0)
        train_seconds = time.perf_counter() - started
    labels = [strip_prefix(label) for label in trained["labels"]]
    hyper = _effective_hyperparameters(trained["args"], kwargs)
    report = next((d.conversion for d in dirs if d.conversion), {})
    card = ModelCard(
        kind="fasttext",
        task="multilabel" if multi_label else "classification",
        labels=_label_order(dirs, labels),
        normalizer=report.get("normalizer"),
        max_length=report.get("max_length"),
        text_expression=report.get("text_expression", ".text"),
        label_expression=report.get("label_expression", ".label"),
        hyperparameters=hyper,
        data={
            "datasets": [str(d.root.resolve()) for d in dirs],
            "train": train_stats.to_dict(),
            **({"valid": valid_stats.to_dict()} if valid_stats else {}),
        },
        training={
            "duration_seconds": round(train_seconds, 3),
            "derived": derived,
            "deterministic": hyper["thread"] == 1 and autotune_duration is None,
            "words": trained["words"],
        },
        extra={"model_file": MODEL_FILE, "model_size_bytes": model_path.stat().st_size},
    )
    valid_metrics = None
    if valid_path is not None:
        classifier = FastTextClassifier.load(output_dir, card)
        valid_metrics = file_metrics(classifier, [p for d in dirs if (p := d.split("valid"))])
        card.training["valid_metrics"] = valid_metrics
    card.save(output_dir)
    return TrainResult(
        output_dir, card, time.perf_counter() - started, train_stats, valid_stats, valid_metrics, warnings
    )


def _effective_hyperparameters(args: dict[str, Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """What fastText actually trained with (autotune may have chosen some), in the card's names."""
    names = {fasttext: card for card, fasttext in FASTTEXT_NAMES.items()}
    values = {names[key]: value for key, value in args.items() if key in names}
    values["learning_rate"] = round(float(values["learning_rate"]), 6)
    if kwargs.get("pretrainedVectors"):
        values["pretrained_vectors"] = kwargs["pretrainedVectors"]
    return values


def _f1(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Per-column F1 of boolean (n, labels) arrays; 0 where a label is neither true nor predicted."""
    tp = (truth & predicted).sum(axis=0)
    denominator = truth.sum(axis=0) + predicted.sum(axis=0)
    return np.divide(2 * tp, denominator, out=np.zeros(truth.shape[1]), where=denominator > 0)


def file_metrics(classifier: FastTextClassifier, paths: list[Path]) -> dict[str, Any]:
    """Accuracy and F1 of ``classifier`` on fastText-format files (texts already prepared).

    The report after training and quantization; the full evaluation is ``bonepick eval``.
    """
    texts, gold = read_labeled(paths)
    probs = classifier.predict_prepared(texts)
    labels = classifier.labels
    index = {label: i for i, label in enumerate(labels)}
    unknown = sorted({g for row in gold for g in row if g not in index})
    if unknown:
        raise DataError(
            f"labels the model does not know: {', '.join(unknown)}",
            paths[0],
            hint=f"the model knows: {', '.join(labels)}",
        )
    truth = np.zeros(probs.shape, dtype=bool)
    for row, names in enumerate(gold):
        truth[row, [index[g] for g in names]] = True
    metrics: dict[str, Any] = {"documents": len(texts)}
    if classifier.card.task == "multilabel":
        predicted = probs >= 0.5
        tp = int((truth & predicted).sum())
        denominator = int(truth.sum() + predicted.sum())
        metrics["micro_f1"] = round(2 * tp / denominator, 6) if denominator else 0.0
        metrics["macro_f1"] = round(float(_f1(truth, predicted).mean()), 6)
    else:
        top = probs.argmax(axis=1)
        first = np.array([index[row[0]] for row in gold])
        metrics["accuracy"] = round(float((top == first).mean()), 6)
        eye = np.eye(len(labels), dtype=bool)
        per_label = _f1(eye[first], eye[top])
        metrics["macro_f1"] = round(float(per_label.mean()), 6)
        metrics["f1"] = {label: round(float(v), 6) for label, v in zip(labels, per_label, strict=True)}
    return metrics


# --------------------------------------------------------------------------- quantization


@dataclass
class QuantizeResult:
    model_dir: Path
    output: Path
    size_before: int
    size_after: int
    metrics_split: str | None
    metrics_before: dict[str, Any] | None
    metrics_after: dict[str, Any] | None
    seconds: float
    settings: dict[str, Any] = field(default_factory=dict)


def quantize_fasttext(
    model_dir: Path,
    *,
    output_dir: Path | None = None,
    cutoff: int = 0,
    retrain: bool = False,
    qnorm: bool = False,
    dataset_dirs: list[Path] | None = None,
    thread: int | None = None,
    verbose: int = 0,
) -> QuantizeResult:
    """Product-quantize a trained model into ``model.ftz``.

    Without ``output_dir`` the ``.ftz`` goes beside ``model.bin`` and the card lists it under
    ``extra.quantized``; with it, ``output_dir`` becomes a model folder of its own (card
    included) that ``eval`` and ``infer`` load like any other.
    """
    started = time.perf_counter()
    model_dir = Path(model_dir)
    if cutoff < 0:
        raise UsageError("--cutoff must be 0 (keep all rows) or more")
    card = ModelCard.load(model_dir)
    if card.kind != "fasttext":
        raise ModelError(f"{model_dir} holds a {card.kind} model, not fastText")
    source = find_model_file(model_dir, card)
    if source.suffix == ".ftz":
        raise ModelError(f"{source} is already quantized", hint="quantize the folder with model.bin")
    dirs = _data_dirs(card, dataset_dirs, need_train=retrain)
    split_name, eval_paths = _metric_paths(dirs)

    metrics_before = (
        file_metrics(FastTextClassifier(model_dir, card, load_fasttext_file(source), source), eval_paths)
        if eval_paths
        else None
    )
    target_dir = Path(output_dir) if output_dir is not None else model_dir
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / QUANTIZED_FILE
    settings = {"cutoff": cutoff, "retrain": retrain, "qnorm": qnorm}
    with tempfile.TemporaryDirectory(prefix=".bonepick-fasttext-", dir=target_dir) as work:
        train_path = None
        if retrain:
            train_path, _ = split_input(dirs, "train", Path(work))
        kwargs: dict[str, Any] = {"cutoff": cutoff, "retrain": retrain, "qnorm": qnorm, "verbose": verbose}
        if train_path is not None:
            kwargs["input"] = str(train_path)
        if thread is not None:
            kwargs["thread"] = thread
        with atomic_path(target) as tmp:
            _fastText_call(
                {"mode": "quantize", "model": str(source), "output": str(tmp), "kwargs": kwargs}, verbose > 0
            )
    size_before, size_after = source.stat().st_size, target.stat().st_size
    metrics_after = None
    if eval_paths:
        quantized = FastTextClassifier(target_dir, card, load_fasttext_file(target), target)
        metrics_after = file_metrics(quantized, eval_paths)
    record = {
        "file": QUANTIZED_FILE,
        **settings,
        "size_bytes": size_after,
        "metrics_split": split_name,
        "metrics_before": metrics_before,
        "metrics_after": metrics_after,
    }
    if output_dir is None:
        card.extra["quantized"] = record
        card.save(model_dir)
    else:
        new_card = ModelCard(**{**asdict(card), "extra": dict(card.extra)})
        new_card.extra.update(
            model_file=QUANTIZED_FILE, model_size_bytes=size_after, quantized_from=str(source.resolve())
        )
        new_card.extra["quantized"] = record
        new_card.save(target_dir)
    return QuantizeResult(
        model_dir,
        target,
        size_before,
        size_after,
        split_name,
        metrics_before,
        metrics_after,
        time.perf_counter() - started,
        settings,
    )


def _data_dirs(card: ModelCard, dataset_dirs: list[Path] | None, need_train: bool) -> list[ConvertedDir]:
    """The converted folders to quantize against: the ones given, else the card's."""
    if dataset_dirs:
        return open_converted_dirs(dataset_dirs)
    recorded = [Path(p) for p in card.data.get("datasets") or []]
    present = [p for p in recorded if (p / "train.txt").is_file()]
    if recorded and len(present) == len(recorded):
        return [open_converted(p) for p in present]
    if need_train:
        raise InputNotFoundError(
            "--retrain needs the training data, and the folders the card records are gone",
            hint="pass the converted folders with -d DIR",
        )
    return []


def _metric_paths(dirs: list[ConvertedDir]) -> tuple[str | None, list[Path]]:
    for split in ("valid", "test"):
        paths = [p for d in dirs if (p := d.split(split)) is not None]
        if paths:
            return split, paths
    return None, []
