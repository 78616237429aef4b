"""Session fixtures: small fasttext models trained once per test session on tests/data.

``fasttext_model_dir`` is a real model (folder with ``model.bin`` and ``bonepick_model.yaml``)
trained on tests/data/spam converted by ``bonepick convert-to-fasttext``: labels ham/spam, normalizer
whitespace, one thread and a fixed seed (so the model is the same in every session).
Other areas (eval, infer, bootstrap) load it with ``bonepick.models.load_model``.
"""

from __future__ import annotations

from pathlib import Path

import pytest


def _convert(source: Path, out: Path) -> Path:
    """Convert a tests/data dataset with ``bonepick convert-to-fasttext`` (every split it has)."""
    from tests.conftest import Cli

    Cli()("convert-to-fasttext", "-i", source, "-o", out, "--normalizer", "whitespace", "-p", "1")
    return out


@pytest.fixture(scope="session")
def fasttext_spam_converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/data/spam in fastText format (train.txt, test.txt, fasttext_conversion.yaml)."""
    from tests.conftest import SPAM

    return _convert(SPAM, tmp_path_factory.mktemp("fasttext-spam") / "converted")


@pytest.fixture(scope="session")
def fasttext_model_dir(tmp_path_factory: pytest.TempPathFactory, fasttext_spam_converted: Path) -> Path:
    """A small real fastText ham/spam model with its card (deterministic: one thread, fixed seed)."""
    from tests.conftest import Cli

    out = tmp_path_factory.mktemp("fasttext-model") / "model"
    Cli()(
        "train-fasttext",
        "-d",
        fasttext_spam_converted,
        "-o",
        out,
        "--dimension",
        "32",
        "--thread",
        "1",
        "--seed",
        "1",
    )
    return out
