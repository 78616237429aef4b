"""Model2Vec commands: distil a static model, train classifiers, regressors and rankers on it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bonepick.cli.app import command
from bonepick.cli.options import (
    DatasetDirs,
    LabelExpression,
    NumProc,
    OutputDir,
    Seed,
    TextExpression,
    check_num_proc,
)

if TYPE_CHECKING:
    from bonepick.models.model2vec_train import Model2VecTrainConfig
    from bonepick.models.trainer import EpochRecord


ModelName = Annotated[
    str | None,
    typer.Option(
        "-m",
        "--model-name",
        help="Base static model: a local folder, a hub name (when the hub is reachable), or 'embedded' "
        "[default: embedded, all-MiniLM-L6-v2 distilled locally on first use].",
        show_default=False,
    ),
]
LearningRate = Annotated[float, typer.Option("--learning-rate", help="Peak learning rate (AdamW).")]
BatchSize = Annotated[
    int | None,
    typer.Option(
        "--batch-size",
        help="Documents per step [default: n/30 rounded to 32, between 32 and 512].",
        show_default=False,
    ),
]
MinEpochs = Annotated[int, typer.Option("--min-epochs", help="Train at least this many epochs.")]
MaxEpochs = Annotated[int, typer.Option("--max-epochs", help="Train at most this many epochs.")]
Patience = Annotated[
    int,
    typer.Option(
        "--early-stopping-patience",
        help="Stop after this many epochs without a lower validation loss (0: never stop early).",
    ),
]
Normalizer = Annotated[
    str | None,
    typer.Option(
        "--normalizer",
        help="Normalize texts with this normalizer before training (recorded in the card).",
        show_default=False,
    ),
]
MaxLength = Annotated[
    int | None,
    typer.Option(
        "--max-length",
        help="Keep at most this many characters of each text, after normalizing.",
        show_default=False,
    ),
]
MaxTokens = Annotated[int, typer.Option("--max-tokens", help="Keep at most this many tokens of each text.")]
HiddenDim = Annotated[int, typer.Option("--hidden-dim", help="Width of the head's hidden layers.")]
NLayers = Annotated[int, typer.Option("--n-layers", help="Hidden layers in the head (0: a linear head).")]
Freeze = Annotated[
    bool, typer.Option("--freeze-embeddings", help="Train the head only; keep the token vectors fixed.")
]
Device = Annotated[
    str, typer.Option("--device", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps.")
]
ValidFraction = Annotated[
    float,
    typer.Option(
        "--valid-fraction", help="Share of train held out for validation when there is no valid/ split."
    ),
]
LrSchedule = Annotated[
    str,
    typer.Option(
        "--lr-schedule",
        help="Learning-rate schedule: plateau (halve after an epoch without a lower validation loss), cosine (warm-up + decay) or constant.",
    ),
]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace the output folder if it exists.")]
Threads = Annotated[
    int, typer.Option("--threads", help="CPU threads for training steps (1 is fastest on shared machines).")
]
EmbeddingLr = Annotated[
    float,
    typer.Option(
        "--embedding-lr-factor",
        help="Token vectors learn at this times --learning-rate (only batch rows move).",
    ),
]
NoAmp = Annotated[bool, typer.Option("--no-mixed-precision", help="Train in float32 on CUDA too.")]


class RichTrainProgress:
    """Draws the trainer's phases as progress bars, with loss and the validation metric per epoch."""

    def __init__(self) -> None:
        import os

        from bonepick.cli import output

        self._output = output
        self._progress: Any = None
        self._task: Any = None
        self.disabled = os.environ.get("BONEPICK_NO_PROGRESS", "") not in ("", "0")

    def phase(self, description: str, total: int | None) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._stop()
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[loss]}"),
            TimeElapsedColumn(),
            console=self._output.err,
            disable=self.disabled,
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task(description, total=total, loss="")

    def advance(self, n: int, **fields: Any) -> None:
        if self._progress is None:
            return
        update: dict[str, Any] = {"advance": n}
        if "loss" in fields:
            update["loss"] = f"loss {fields['loss']:.4f}"
        self._progress.update(self._task, **update)

    def epoch(self, record: EpochRecord) -> None:
        self._stop()
        metrics = "  ".join(f"{k} {v:.4f}" for k, v in record.valid.items())
        mark = " *" if record.improved else ""
        self._output.info(
            f"epoch {record.epoch}: train loss {record.train_loss:.4f}  valid {metrics}  "
            f"({record.docs_per_second:,.0f} docs/s, {record.seconds:.1f}s){mark}"
        )

    def done(self) -> None:
        self._stop()

    def _stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def _show_training(summary: Any, title: str) -> None:
    from bonepick.cli import output
    from bonepick.cli.common import write_provenance

    write_provenance(summary.output_dir, summary.to_dict())
    card = summary.card
    result = summary.result
    best = result.history[result.best_epoch - 1]
    rows: list[list[Any]] = [
        ["task", card.task],
        ["base model", card.base_model],
        ["train rows", card.data["train_rows"]],
        [f"valid rows ({card.data['valid_source']})", card.data["valid_rows"]],
        ["device", result.device + (f" ({result.mixed_precision})" if result.mixed_precision else "")],
        ["epochs run", len(result.history)],
        ["best epoch", result.best_epoch],
    ]
    rows += [[f"valid {k}", v] for k, v in best.valid.items()]
    rows.append(["seconds", summary.seconds])
    output.table(title, ["", "value"], rows)
    output.info(f"output: {summary.output_dir}")


def _model2vec_config(
    task: str,
    output_dir: Path,
    model_name: str | None,
    text_expression: str,
    label_expression: str,
    learning_rate: float,
    batch_size: int | None,
    min_epochs: int,
    max_epochs: int,
    early_stopping_patience: int,
    freeze_embeddings: bool,
    hidden_dim: int,
    n_layers: int,
    normalizer: str | None,
    max_length: int | None,
    max_tokens: int,
    valid_fraction: float,
    lr_schedule: str,
    device: str,
    no_mixed_precision: bool,
    threads: int,
    embedding_lr_factor: float,
    seed: int,
    num_proc: int | None,
    overwrite: bool,
    loss_class_weight: str = "uniform",
) -> Model2VecTrainConfig:
    """The training settings train-model2vec and train-contrastive share, from their options."""
    from bonepick.models.model2vec_train import Model2VecTrainConfig
    from bonepick.models.trainer import TrainConfig

    return Model2VecTrainConfig(
        output_dir=output_dir,
        base_model=model_name,
        text_expression=text_expression,
        label_expression=label_expression,
        task=task,
        normalizer=normalizer,
        max_length=max_length,
        max_tokens=max_tokens,
        class_weight=loss_class_weight,
        freeze_embeddings=freeze_embeddings,
        hidden_dim=hidden_dim,
        n_layers=n_layers,
        valid_fraction=valid_fraction,
        num_proc=check_num_proc(num_proc),
        overwrite=overwrite,
        train=TrainConfig(
            learning_rate=learning_rate,
            batch_size=batch_size,
            min_epochs=min_epochs,
            max_epochs=max_epochs,
            patience=early_stopping_patience if early_stopping_patience > 0 else None,
            lr_schedule=lr_schedule,
            device=device,
            mixed_precision=not no_mixed_precision,
            threads=threads,
            embedding_lr_factor=embedding_lr_factor,
            seed=seed,
        ),
    )


@command("train")
def train_model2vec(
    dataset_dir: DatasetDirs,
    output_dir: OutputDir,
    model_name: ModelName = None,
    text_expression: TextExpression = ".text",
    label_expression: LabelExpression = ".label",
    learning_rate: LearningRate = 1e-3,
    batch_size: BatchSize = None,
    min_epochs: MinEpochs = 1,
    max_epochs: MaxEpochs = 20,
    early_stopping_patience: Patience = 3,
    loss_class_weight: Annotated[
        str,
        typer.Option(
            "--loss-class-weight", help="Weight classes in the loss: uniform, balanced (1/frequency) or sqrt."
        ),
    ] = "uniform",
    regression: Annotated[
        bool, typer.Option("--regression", help="Labels are numbers; learn to predict them (MSE).")
    ] = False,
    multi_label: Annotated[
        bool, typer.Option("--multi-label", help="Rows carry a list of labels (sigmoid per class).")
    ] = False,
    freeze_embeddings: Freeze = False,
    hidden_dim: HiddenDim = 512,
    n_layers: NLayers = 1,
    normalizer: Normalizer = None,
    max_length: MaxLength = None,
    max_tokens: MaxTokens = 512,
    valid_fraction: ValidFraction = 0.1,
    lr_schedule: LrSchedule = "plateau",
    device: Device = "auto",
    no_mixed_precision: NoAmp = False,
    threads: Threads = 1,
    embedding_lr_factor: EmbeddingLr = 3.0,
    seed: Seed = 42,
    num_proc: NumProc = None,
    overwrite: Overwrite = False,
) -> None:
    """Train a Model2Vec classifier (or regressor) on one or more datasets.

    Texts are tokenized once with the base model's tokenizer; the token vectors and an MLP head are
    fine-tuned together. Validation uses valid/ when every dataset has it, otherwise a seeded,
    stratified hold-out of train; the best epoch is kept. The output folder loads with
    model2vec's StaticModelPipeline.from_pretrained as is, and holds the bonepick model card.
    """
    from bonepick.cli import output
    from bonepick.cli.common import call_with_options
    from bonepick.errors import UsageError
    from bonepick.models.model2vec_train import train_model2vec as run

    if regression and multi_label:
        raise UsageError("--regression and --multi-label cannot be combined")
    task = "regression" if regression else "multilabel" if multi_label else "classification"
    config = call_with_options(_model2vec_config, locals(), task=task)
    summary = run(dataset_dir, config, RichTrainProgress(), output.info)
    _show_training(summary, "train-model2vec")


@command("train")
def train_contrastive(
    dataset_dir: DatasetDirs,
    output_dir: OutputDir,
    model_name: ModelName = None,
    text_expression: TextExpression = ".text",
    label_expression: LabelExpression = ".label",
    n_clusters: Annotated[
        int,
        typer.Option(
            "--n-clusters",
            help="k-means clusters of base-model embeddings; pairs are drawn within a cluster.",
        ),
    ] = 100,
    pairs_per_doc: Annotated[
        int, typer.Option("--pairs-per-doc", help="Pairs drawn per training document each epoch.")
    ] = 2,
    margin: Annotated[
        float, typer.Option("--margin", help="The higher-labelled text must score at least this much higher.")
    ] = 1.0,
    learning_rate: LearningRate = 1e-3,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size", help="Pairs per step [default: like train-model2vec].", show_default=False
        ),
    ] = None,
    min_epochs: MinEpochs = 1,
    max_epochs: MaxEpochs = 20,
    early_stopping_patience: Patience = 3,
    freeze_embeddings: Freeze = False,
    hidden_dim: HiddenDim = 512,
    n_layers: NLayers = 1,
    normalizer: Normalizer = None,
    max_length: MaxLength = None,
    max_tokens: MaxTokens = 512,
    valid_fraction: ValidFraction = 0.1,
    lr_schedule: LrSchedule = "plateau",
    device: Device = "auto",
    no_mixed_precision: NoAmp = False,
    threads: Threads = 1,
    embedding_lr_factor: EmbeddingLr = 3.0,
    seed: Seed = 42,
    num_proc: NumProc = None,
    overwrite: Overwrite = False,
) -> None:
    """Train a Model2Vec scorer that ranks texts by an ordinal label (pairwise hinge loss).

    Documents are embedded with the base model and clustered (k-means); each epoch draws pairs of
    documents from the same cluster whose labels differ, and the higher label must score higher by
    --margin. Labels must be numbers (map classes to numbers in --label-expression). The output is
    used by eval and inference like a regression model: one score per text.
    """
    from bonepick.cli import output
    from bonepick.cli.common import call_with_options
    from bonepick.models.contrastive import ContrastiveConfig
    from bonepick.models.contrastive import train_contrastive as run

    config = call_with_options(_model2vec_config, locals(), task="ranking")
    contrastive = ContrastiveConfig(n_clusters=n_clusters, pairs_per_doc=pairs_per_doc, margin=margin)
    summary = run(dataset_dir, config, contrastive, RichTrainProgress(), output.info)
    _show_training(summary, "train-contrastive")


@command("train")
def distill_model2vec(
    model_name: Annotated[
        str,
        typer.Option(
            "-m",
            "--model-name",
            help="Sentence transformer to distil: a local folder, a hub name, or 'embedded' (the packaged all-MiniLM-L6-v2).",
        ),
    ],
    output_dir: OutputDir,
    pca_dims: Annotated[
        str,
        typer.Option(
            "-d", "--pca-dims", help="PCA dimensions: a number, 'auto' (PCA, no reduction) or 'none'."
        ),
    ] = "256",
    sif_coefficient: Annotated[
        float | None,
        typer.Option("-s", "--sif-coefficient", help="SIF weighting coefficient (0 to disable)."),
    ] = 1e-4,
    token_remove_pattern: Annotated[
        str | None,
        typer.Option(
            "-t", "--token-remove-pattern", help="Regex of tokens to drop from the vocabulary ('' keeps all)."
        ),
    ] = r"\[unused\d+\]",
    vocabulary_path: Annotated[
        Path | None,
        typer.Option(
            "-v",
            "--vocabulary-path",
            help="Text file with one word per line to add as tokens.",
            show_default=False,
        ),
    ] = None,
    quantize_to: Annotated[
        str, typer.Option("-q", "--quantize-to", help="Embedding dtype: float64, float32, float16 or int8.")
    ] = "float16",
    vocabulary_quantization: Annotated[
        int | None,
        typer.Option(
            "-k",
            "--vocabulary-quantization",
            help="Cluster the vocabulary into this many vectors.",
            show_default=False,
        ),
    ] = None,
    pooling: Annotated[
        str,
        typer.Option("-p", "--pooling", help="How a token's vector is read: mean, last, first or pooler."),
    ] = "mean",
    trust_remote_code: Annotated[
        bool,
        typer.Option("-r", "--trust-remote-code", help="Allow custom model code from the model folder/hub."),
    ] = False,
    device: Annotated[
        str | None,
        typer.Option(
            "--device", help="Device for the forward passes [default: best available].", show_default=False
        ),
    ] = None,
    overwrite: Overwrite = False,
) -> None:
    """Distil a static Model2Vec model from a sentence transformer (model2vec.distill).

    Works offline from a local folder; '-m embedded' distils the all-MiniLM-L6-v2 weights shipped with
    bonepick. The output is a static model folder to pass as -m to train-model2vec.
    """
    from bonepick.cli import output
    from bonepick.cli.common import write_provenance
    from bonepick.models.distill import DistillConfig, distill_model, parse_pca_dims, read_vocabulary

    config = DistillConfig(
        pca_dims=parse_pca_dims(pca_dims),
        sif_coefficient=sif_coefficient if sif_coefficient else None,
        token_remove_pattern=token_remove_pattern or None,
        vocabulary=read_vocabulary(vocabulary_path) if vocabulary_path else None,
        quantize_to=quantize_to,
        vocabulary_quantization=vocabulary_quantization,
        pooling=pooling,
        trust_remote_code=trust_remote_code,
        device=device,
    )
    result = distill_model(
        model_name, output_dir, config, overwrite=overwrite, message=output.info, progress=RichTrainProgress()
    )
    write_provenance(
        output_dir,
        {
            "base_model": result.base_model,
            "vocabulary_size": result.vocabulary_size,
            "dimensions": result.dimensions,
        },
        extra={"distill": result.config},
    )
    output.table(
        "distill-model2vec",
        ["", "value"],
        [
            ["base model", result.base_model],
            ["vocabulary", result.vocabulary_size],
            ["dimensions", result.dimensions],
            ["seconds", result.seconds],
        ],
    )
    output.info(f"output: {result.output_dir}")
