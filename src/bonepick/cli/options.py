"""Shared option definitions, so every command spells and explains them the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

InputDirs = Annotated[
    list[Path],
    typer.Option("-i", "--input-dir", help="Input dataset folder (repeat for several).", show_default=False),
]
OutputDir = Annotated[Path, typer.Option("-o", "--output-dir", help="Output folder.", show_default=False)]
DatasetDirs = Annotated[
    list[Path],
    typer.Option("-d", "--dataset-dir", help="Dataset folder (repeat for several).", show_default=False),
]
NumProc = Annotated[
    int | None,
    typer.Option("-p", "--num-proc", help="Worker processes [default: number of CPUs].", show_default=False),
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
    int | None, typer.Option("--compression-level", help="Compression level [default: zstd 3, gzip 6].")
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
