"""The base-model resolver: the embedded default is checked, cached, reused and rebuilt if corrupt."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bonepick.errors import ModelError
from bonepick.models import base_models, distill


def test_embedded_model_is_cached_and_reused(
    embedded_base_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from model2vec import StaticModel

    assert base_models._marker_ok(embedded_base_model)

    def must_not_build(*args, **kwargs):
        raise AssertionError("the cached embedded model should have been reused")

    monkeypatch.setattr(base_models, "distill_static_model", must_not_build)
    resolved = base_models.resolve_base_model(None)
    assert resolved.path == embedded_base_model and resolved.name == "embedded"
    assert base_models.resolve_base_model("embedded").path == embedded_base_model
    model = StaticModel.from_pretrained(resolved.path)
    assert model.dim == 256 and model.base_model_name == distill.PACKAGED_TRANSFORMER


def test_corrupt_cache_is_rebuilt(
    embedded_base_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A damaged cache entry is detected by its hashes and rebuilt (the distillation itself is
    replaced by loading the session's real build, to keep this test fast)."""
    from model2vec import StaticModel

    monkeypatch.setenv("BONEPICK_CACHE_DIR", str(tmp_path))
    target = base_models.embedded_cache_path()
    shutil.copytree(embedded_base_model, target)
    assert base_models._marker_ok(target)
    with open(target / "model.safetensors", "r+b") as handle:
        handle.seek(1000)
        handle.write(b"\x00\x01\x02\x03")
    assert not base_models._marker_ok(target)

    calls = []

    def rebuild(source, name, config, phase=None, advance=None):
        calls.append((source, name))
        return StaticModel.from_pretrained(embedded_base_model)

    monkeypatch.setattr(base_models, "distill_static_model", rebuild)
    messages: list[str] = []
    assert base_models.ensure_embedded_model(messages.append) == target
    assert len(calls) == 1 and calls[0][1] == distill.PACKAGED_TRANSFORMER
    assert base_models._marker_ok(target) and "building the embedded base model" in messages[0]
    assert (target / "model.safetensors").read_bytes() == (
        embedded_base_model / "model.safetensors"
    ).read_bytes()
    base_models.ensure_embedded_model()  # now reused
    assert len(calls) == 1
    assert not list(target.parent.glob(".*build*"))


def test_packaged_weights_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert distill.packaged_transformer_path().joinpath("model.safetensors").is_file()
    monkeypatch.setattr(distill, "PACKAGED_WEIGHTS_SHA256", "0" * 64)
    with pytest.raises(ModelError, match="sha256"):
        distill.packaged_transformer_path()


def test_local_folders_and_unreachable_hub(tmp_path: Path, embedded_base_model: Path) -> None:
    local = base_models.resolve_base_model(str(embedded_base_model))
    assert local.source == "local" and local.path == embedded_base_model.resolve()
    (tmp_path / "transformer").mkdir()
    (tmp_path / "transformer" / "config.json").write_text("{}")
    with pytest.raises(ModelError, match="not a static") as error:
        base_models.resolve_base_model(str(tmp_path / "transformer"))
    assert "distill-model2vec" in (error.value.hint or "")
    with pytest.raises(ModelError, match="no such base model"):
        base_models.resolve_base_model("no-such-folder")
    with pytest.raises(ModelError, match="Hugging Face hub"):
        base_models.resolve_base_model("minishlab/potion-base-8M")
