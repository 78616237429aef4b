"""fastText commands: train a classifier on converted folders, quantize it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from bonepick.cli.app import command
from bonepick.cli.options import DatasetDirs, OutputDir

ModelDir = Annotated[
    Path,
    typer.Option("-m", "--model-dir", help="Model folder written by train-fasttext.", show_default=False),
]


def _verbosity() -> int:
    """fastText's own progress line (printed by the C++ library) only on a terminal."""
    return 2 if sys.stderr.isatty() else 0


@command("train")
def train_fasttext(
    dataset_dir: DatasetDirs,
    output_dir: OutputDir,
    learning_rate: Annotated[
        float | None, typer.Option("--learning-rate", "--lr", help="Learning rate. [default: 0.1]")
    ] = None,
    word_ngrams: Annotated[
        int | None,
        typer.Option(
            "--word-ngrams",
            help="Longest word n-gram used as a feature. [default: 1 below 100k training documents, 2 from "
            "100k on]",
        ),
    ] = None,
    min_count: Annotated[
        int | None, typer.Option("--min-count", help="Drop words seen fewer times than this. [default: 1]")
    ] = None,
    epoch: Annotated[
        int | None,
        typer.Option(
            "--epoch",
            help="Passes over the training data. [default: derived from the training-set size: "
            "25 at 10k documents, x sqrt(10k / documents), between 3 and 50, e.g. 50 up to 2.5k docs, "
            "16 at 25k, 8 at 100k, 3 from 700k on]",
        ),
    ] = None,
    bucket: Annotated[
        int | None,
        typer.Option(
            "--bucket",
            help="Hash buckets for word n-grams above 1 and char n-grams (unused otherwise); the model "
            "holds (words + bucket) x dimension floats. [default: 2000000]",
        ),
    ] = None,
    min_char_ngram: Annotated[
        int | None, typer.Option("--min-char-ngram", help="Shortest character n-gram; 0: none. [default: 0]")
    ] = None,
    max_char_ngram: Annotated[
        int | None, typer.Option("--max-char-ngram", help="Longest character n-gram; 0: none. [default: 0]")
    ] = None,
    window_size: Annotated[
        int | None, typer.Option("--window-size", help="Context window (fastText -ws). [default: 5]")
    ] = None,
    dimension: Annotated[
        int | None,
        typer.Option(
            "--dimension", "--dim", help="Vector size. [default: 100, or the pretrained vectors' size]"
        ),
    ] = None,
    loss: Annotated[
        str | None,
        typer.Option(
            "--loss",
            help="softmax, hs (hierarchical softmax), ova (one-vs-all: independent label "
            "probabilities) or ns (negative sampling). [default: ova for multi-label data, else softmax]",
        ),
    ] = None,
    num_negatives: Annotated[
        int | None,
        typer.Option("--num-negatives", help="Negatives sampled per example (--loss ns). [default: 5]"),
    ] = None,
    thread: Annotated[
        int | None,
        typer.Option(
            "--thread",
            help="Training threads. [default: all CPUs]. Multi-threaded fastText is not bit-reproducible; "
            "use --thread 1 with --seed for identical models from identical input.",
        ),
    ] = None,
    pretrained_vectors: Annotated[
        Path | None,
        typer.Option("--pretrained-vectors", help="Word vectors (.vec text file) to start from."),
    ] = None,
    seed: Annotated[int, typer.Option("-s", "--seed", help="Random seed.")] = 0,
    autotune_duration: Annotated[
        int | None,
        typer.Option(
            "--autotune-duration",
            help="Run fastText's autotune for this many seconds against valid.txt; it searches every "
            "hyperparameter not given on the command line.",
        ),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing model.bin.")] = False,
) -> None:
    """Train a fastText classifier on folders written by convert-to-fasttext.

    Reads train.txt of every -d folder (joined in order), and reports accuracy and F1 on valid.txt
    when there is one. Writes model.bin and bonepick_model.yaml (labels, the normalizer and
    max length used at conversion, hyperparameters, sizes, duration), so eval and infer need
    only -m. Defaults are chosen to train well from 10k to 10M documents (the number of epochs follows
    the training-set size).
    """
    from bonepick.cli import output
    from bonepick.cli.common import write_provenance
    from bonepick.models.fasttext_train import FastTextParams
    from bonepick.models.fasttext_train import train_fasttext as run

    params = FastTextParams(
        learning_rate=learning_rate,
        word_ngrams=word_ngrams,
        min_count=min_count,
        epoch=epoch,
        bucket=bucket,
        min_char_ngram=min_char_ngram,
        max_char_ngram=max_char_ngram,
        window_size=window_size,
        dimension=dimension,
        loss=loss.strip().lower() if loss else None,
        num_negatives=num_negatives,
        thread=thread,
        pretrained_vectors=pretrained_vectors,
        seed=seed,
    )
    result = run(
        list(dataset_dir),
        output_dir,
        params,
        autotune_duration=autotune_duration,
        overwrite=overwrite,
        verbose=_verbosity(),
    )
    for message in result.warnings:
        output.warn(message)
    card = result.card
    hp = card.hyperparameters
    rows = [
        ["training documents", result.train.documents],
        *[[f"  {label}", count] for label, count in sorted(result.train.labels.items())],
        ["words in vocabulary", card.training["words"]],
        ["epochs", hp["epoch"]],
        ["learning rate", hp["learning_rate"]],
        ["word n-grams", hp["word_ngrams"]],
        ["dimension", hp["dimension"]],
        ["loss", hp["loss"]],
        ["threads", hp["thread"]],
        ["training seconds", card.training["duration_seconds"]],
        ["model size (MB)", card.extra["model_size_bytes"] / 1e6],
    ]
    output.table("train-fasttext", ["", "value"], rows)
    if result.valid_metrics:
        metrics = result.valid_metrics
        names = [k for k in ("accuracy", "macro_f1", "micro_f1") if k in metrics]
        rows = [[f"valid ({metrics['documents']} docs)", *[metrics[k] for k in names]]]
        rows += [
            [f"  f1 {label}", *([""] * (len(names) - 1)), v] for label, v in metrics.get("f1", {}).items()
        ]
        output.table("validation", ["split", *names], rows)
    derived = card.training.get("derived") or {}
    if derived:
        output.info("chosen for you: " + "; ".join(f"{k} {why}" for k, why in derived.items()))
    write_provenance(output_dir, {"train": result.train.to_dict(), "valid_metrics": result.valid_metrics})
    output.info(f"output: {output_dir}")


@command("train")
def quantize_fasttext(
    model_dir: ModelDir,
    cutoff: Annotated[
        int, typer.Option("--cutoff", help="Keep only this many word and n-gram rows (0: keep all).")
    ] = 0,
    retrain: Annotated[
        bool, typer.Option("--retrain", help="Fine-tune after --cutoff on the training data (train.txt).")
    ] = False,
    qnorm: Annotated[bool, typer.Option("--qnorm", help="Quantize the vector norms separately.")] = False,
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output-dir",
            help="Write a separate model folder (model.ftz + card) that eval and infer load; "
            "[default: model.ftz beside model.bin]",
            show_default=False,
        ),
    ] = None,
    dataset_dir: Annotated[
        list[Path] | None,
        typer.Option(
            "-d",
            "--dataset-dir",
            help="Converted folders for --retrain and the metric check [default: the ones in the card].",
            show_default=False,
        ),
    ] = None,
    thread: Annotated[int | None, typer.Option("--thread", help="Threads for --retrain.")] = None,
) -> None:
    """Shrink a fastText model with product quantization into model.ftz.

    Prints the file size before and after, and accuracy/F1 before and after on valid.txt (else
    test.txt) of the training folders.
    """
    from bonepick.cli import output
    from bonepick.cli.common import write_provenance
    from bonepick.models.fasttext_train import quantize_fasttext as run

    result = run(
        model_dir,
        output_dir=output_dir,
        cutoff=cutoff,
        retrain=retrain,
        qnorm=qnorm,
        dataset_dirs=list(dataset_dir or []),
        thread=thread,
        verbose=_verbosity(),
    )
    rows = [
        [
            "size (MB)",
            result.size_before / 1e6,
            result.size_after / 1e6,
            result.size_after / 1e6 - result.size_before / 1e6,
        ]
    ]
    if result.metrics_before and result.metrics_after:
        for key in ("accuracy", "macro_f1", "micro_f1"):
            if key in result.metrics_before:
                before, after = result.metrics_before[key], result.metrics_after[key]
                rows.append([f"{key} ({result.metrics_split})", before, after, after - before])
    output.table("quantize-fasttext", ["", "model.bin", "model.ftz", "change"], rows)
    if not result.metrics_before:
        output.warn("no valid.txt or test.txt found; pass -d DIR to measure the metric change")
    target = result.output.parent
    # beside model.bin the training provenance stays; the quantization gets its own file
    write_provenance(
        target,
        {
            "size_before": result.size_before,
            "size_after": result.size_after,
            "metrics_split": result.metrics_split,
            "metrics_before": result.metrics_before,
            "metrics_after": result.metrics_after,
        },
        name="bonepick.yaml" if output_dir is not None else "bonepick_quantize.yaml",
    )
    output.info(f"output: {result.output}")
