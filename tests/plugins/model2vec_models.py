"""Session fixtures: small model2vec models trained once per test session on tests/data.

- ``embedded_base_model``: the embedded default static model (all-MiniLM-L6-v2 distilled on first
  use), built once into the session cache that every test's ``BONEPICK_CACHE_DIR`` points at.
  The distillation takes ~30 s on 2 quiet cores (up to 5 min when they are busy); for quick
  local iterations only, ``BONEPICK_TEST_EMBEDDED_MODEL=<a verified earlier build>`` copies that
  build instead.
- ``model2vec_model_dir``: a ham/spam classifier trained with ``train-model2vec`` on tests/data/spam.
- ``model2vec_regression_model_dir``: a regressor on the same data (spam = 1, ham = 0).
- ``model2vec_ranking_model_dir``: a ``train-contrastive`` scorer on the same data.

Every model folder has a ``bonepick_model.yaml`` card; load one with
``bonepick.models.load_model(path)`` and call ``.predict(texts)``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

SPAM_AS_NUMBER = 'if .label == "spam" then 1 else 0 end'


def _offline_env(monkeypatch: pytest.MonkeyPatch, cache: Path) -> None:
    monkeypatch.setenv("BONEPICK_CACHE_DIR", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(cache / "hf"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("BONEPICK_NO_PROGRESS", "1")


@pytest.fixture(scope="session")
def embedded_base_model(session_cache: Path) -> Path:
    """Folder of the embedded default static model, distilled once per session."""
    from bonepick.models.base_models import _marker_ok, embedded_cache_path, ensure_embedded_model

    with pytest.MonkeyPatch.context() as monkeypatch:
        _offline_env(monkeypatch, session_cache)
        prebuilt = os.environ.get("BONEPICK_TEST_EMBEDDED_MODEL")
        if prebuilt and _marker_ok(Path(prebuilt)) and not embedded_cache_path().exists():
            # opt-in shortcut for quick local iterations: copy a verified earlier build
            shutil.copytree(prebuilt, embedded_cache_path())
        return ensure_embedded_model()


def _train(session_cache: Path, tmp_path_factory: pytest.TempPathFactory, name: str, *args: str) -> Path:
    from tests.conftest import SPAM, Cli

    output = tmp_path_factory.mktemp("m2v") / name
    with pytest.MonkeyPatch.context() as monkeypatch:
        _offline_env(monkeypatch, session_cache)
        Cli()(*args, "-d", SPAM, "-o", output, "-p", "1", "--device", "cpu", "-s", "7")
    return output


@pytest.fixture(scope="session")
def model2vec_model_dir(
    embedded_base_model: Path, session_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A ham/spam Model2Vec classifier trained on tests/data/spam (600 train rows, 10% held out)."""
    return _train(
        session_cache,
        tmp_path_factory,
        "spam-classifier",
        "train-model2vec",
        "--max-epochs",
        "6",
        "--early-stopping-patience",
        "3",
    )


@pytest.fixture(scope="session")
def model2vec_regression_model_dir(
    embedded_base_model: Path, session_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A Model2Vec regressor on tests/data/spam with spam = 1 and ham = 0."""
    return _train(
        session_cache,
        tmp_path_factory,
        "spam-regressor",
        "train-model2vec",
        "--regression",
        "-l",
        SPAM_AS_NUMBER,
        "--max-epochs",
        "5",
    )


@pytest.fixture(scope="session")
def model2vec_ranking_model_dir(
    embedded_base_model: Path, session_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A ``train-contrastive`` scorer on tests/data/spam (spam = 1 ranks above ham = 0)."""
    return _train(
        session_cache,
        tmp_path_factory,
        "spam-ranker",
        "train-contrastive",
        "-l",
        SPAM_AS_NUMBER,
        "--n-clusters",
        "8",
        "--max-epochs",
        "5",
    )
