"""train-encoder: transformer encoder classifiers (frozen or fine-tuned, one head per task)."""

from __future__ import annotations

from typing import Annotated

import typer

from bonepick.cli.app import command
from bonepick.cli.options import DatasetDirs, NumProc, OutputDir, Seed, check_num_proc


@command("train")
def train_encoder(
    dataset_dir: DatasetDirs,
    output_dir: OutputDir,
    model_name: Annotated[
        str | None,
        typer.Option(
            "-m",
            "--model-name",
            help="Base encoder: a local folder, a hub name (when reachable), or 'embedded' "
            "(the all-MiniLM-L6-v2 weights that install with bonepick). [default: embedded]",
            show_default=False,
        ),
    ] = None,
    text_expression: Annotated[
        str, typer.Option("--text-expression", help="jq expression for the text.")
    ] = ".text",
    label_expression: Annotated[
        str, typer.Option("-l", "--label-expression", help="jq expression for the label (one task).")
    ] = ".label",
    task: Annotated[
        list[str] | None,
        typer.Option(
            "--task",
            help="NAME=LABEL_JQ, repeat for a multi-task model (one head per task; the first is what "
            "eval and infer use). Append :regression or :classification to set one task's kind.",
            show_default=False,
        ),
    ] = None,
    freeze_encoder: Annotated[
        bool, typer.Option("--freeze-encoder", help="Train only the heads on cached embeddings (fast).")
    ] = False,
    regression: Annotated[bool, typer.Option("--regression", help="Labels are numbers (MSE loss).")] = False,
    max_length: Annotated[int, typer.Option("--max-length", help="Tokens kept per text.")] = 512,
    learning_rate: Annotated[
        float | None,
        typer.Option("--learning-rate", help="[default: 1e-2 frozen, 3e-5 fine-tuned]", show_default=False),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            help="[default: 64 frozen / 16 fine-tuned on CPU; 4x that on CUDA]",
            show_default=False,
        ),
    ] = None,
    epochs: Annotated[
        int | None, typer.Option("--epochs", help="[default: 20 frozen, 3 fine-tuned]", show_default=False)
    ] = None,
    normalizer: Annotated[
        str | None, typer.Option("--normalizer", help="Normalize texts first (recorded in the card).")
    ] = None,
    valid_fraction: Annotated[
        float,
        typer.Option("--valid-fraction", help="Held out of train for validation when there is no valid/."),
    ] = 0.1,
    device: Annotated[
        str, typer.Option("--device", help="auto (CUDA, MPS, CPU), cpu, cuda, cuda:N or mps.")
    ] = "auto",
    seed: Seed = 42,
    num_proc: NumProc = 1,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing model folder.")] = False,
) -> None:
    """Train a transformer encoder classifier or regressor (Hugging Face transformers).

    Mean-pooled encoder output feeds one linear head per task. With --freeze-encoder the texts are
    embedded once and only the heads train; otherwise the encoder is fine-tuned too (mixed
    precision on CUDA). The best epoch on valid/ (or a seeded hold-out) is kept. The folder holds
    encoder/ (loads with transformers.AutoModel), heads.safetensors and the card, so eval and infer
    need only -m.
    """
    from bonepick.cli import output
    from bonepick.cli.common import write_provenance
    from bonepick.errors import UsageError
    from bonepick.models.card import CARD_FILE
    from bonepick.models.encoder_train import EncoderTrainConfig, parse_task
    from bonepick.models.encoder_train import train_encoder as run

    if (output_dir / CARD_FILE).exists() and not overwrite:
        raise UsageError(f"{output_dir} already holds a model", hint="pass --overwrite to replace it")
    tasks = [parse_task(spec, regression) for spec in task or []]
    if not tasks:
        tasks = [parse_task(f"label={label_expression}", regression)]
    if len({t.name for t in tasks}) != len(tasks):
        raise UsageError("two --task options share a name")
    config = EncoderTrainConfig(
        dataset_dirs=list(dataset_dir),
        output_dir=output_dir,
        base_model=model_name,
        tasks=tasks,
        text_expression=text_expression,
        freeze_encoder=freeze_encoder,
        normalizer=normalizer,
        max_tokens=max_length,
        learning_rate=learning_rate,
        batch_size=batch_size,
        epochs=epochs,
        valid_fraction=valid_fraction,
        device=device,
        seed=seed,
        num_proc=check_num_proc(num_proc),
    )
    card = run(config, report=output.info)
    write_provenance(
        output_dir, {"best_epoch": card.training["best_epoch"], "history": card.training["history"]}
    )
    last = card.training["history"][card.training["best_epoch"] - 1]
    output.table(
        f"train-encoder: best epoch {card.training['best_epoch']} of {len(card.training['history'])}",
        ["metric", "value"],
        [[k, v] for k, v in last.items() if k != "epoch"],
    )
    output.info(f"model: {output_dir} ({card.training['seconds']:.1f}s on {card.training['device']})")
