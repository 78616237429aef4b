"""Shared option definitions, so every command spells and explains them the same way."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

F = TypeVar("F", bound=Callable[..., Any])

InputDirs = Annotated[
    list[Path],
    typer.Option("-i", "--input-dir", help="Input dataset folder (repeat for several).", show_default=False),
]
OutputDir = Annotated[Path, typer.Option("-o", "--output-dir", help="Output folder.", show_default=False)]
DatasetDirs = Annotated[
    list[Path],
    typer.Option("-d", "--dataset-dir", help="Dataset folder (repeat for several).", show_default=False),
]
ModelDir = Annotated[
    Path,
    typer.Option(
        "-m", "--model-dir", help="Model folder (with its bonepick_model.yaml card).", show_default=False
    ),
]
NumProc = Annotated[
    int | None,
    typer.Option("-p", "--num-proc", help="Worker processes [default: number of CPUs].", show_default=False),
]
PromptDirs = Annotated[
    list[Path] | None,
    typer.Option(
        "--prompt-dir",
        help="Folder of your own prompts (repeatable; also BONEPICK_PROMPT_DIR).",
        show_default=False,
    ),
]
Seed = Annotated[
    int, typer.Option("-s", "--seed", help="Random seed; same seed and input give the same output.")
]
Overwrite = Annotated[
    bool, typer.Option("--overwrite", help="Redo shards that a previous run already completed.")
]
TextExpression = Annotated[
    str, typer.Option("--text-expression", help="jq expression that yields the text of a row.")
]
LabelExpression = Annotated[
    str, typer.Option("-l", "--label-expression", help="jq expression that yields the label of a row.")
]
Compression = Annotated[str, typer.Option("--compression", help="Output compression: zst, gz or none.")]
CompressionLevel = Annotated[
    int | None, typer.Option("--compression-level", help="Compression level [default: zstd 1, gzip 6].")
]


def parse_compression(value: str) -> str:
    """Map the user's spelling of a compression to the writer's name."""
    from bonepick.errors import UsageError

    mapping = {"zst": "zstd", "zstd": "zstd", "gz": "gzip", "gzip": "gzip", "none": "none", "jsonl": "none"}
    key = value.strip().lower()
    if key not in mapping:
        raise UsageError(f"unknown compression '{value}'", hint="use zst, gz or none")
    return mapping[key]


def check_num_proc(value: int | None) -> int | None:
    from bonepick.errors import UsageError

    if value is not None and value < 1:
        raise UsageError(f"--num-proc must be at least 1, got {value}")
    return value


def options_like(command: Callable[..., Any], first: tuple[str, ...] = ()) -> Callable[[F], F]:
    """Give the decorated command exactly the options of ``command`` (names, help, defaults), with
    the options named in ``first`` listed first. The decorated function takes them as keywords
    (``**options``), so the two commands can never drift apart."""
    signature = inspect.signature(command, eval_str=True)
    ordered = sorted(signature.parameters.values(), key=lambda p: p.name not in first)

    def decorator(func: F) -> F:
        func.__signature__ = signature.replace(parameters=ordered)  # type: ignore[attr-defined]
        return func

    return decorator
