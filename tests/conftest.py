"""Shared fixtures: isolated environment, real-data paths, and ways to run the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest_plugins = ["tests.plugins.model2vec_models", "tests.plugins.fasttext_models", "tests.servers.fixtures"]

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
DATA = TESTS / "data"
SPAM = DATA / "spam"
BROWN = DATA / "brown"
SHARED = REPO.parent / "shared"
CORPORA = SHARED / "corpora"


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One user cache for the whole test session (the embedded base model is built once)."""
    return tmp_path_factory.mktemp("bonepick-cache")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, session_cache: Path) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("BONEPICK_CACHE_DIR", str(session_cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(session_cache / "hf"))
    monkeypatch.delenv("BONEPICK_DEBUG", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


class Cli:
    """Runs ``bonepick`` in-process through Typer's CliRunner, as a user would type it."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str | Path, expect: int | None = 0):
        from bonepick.cli.main import app

        result = self.runner.invoke(app, [str(a) for a in args], catch_exceptions=True)
        if expect is not None and result.exit_code != expect:
            raise AssertionError(
                f"bonepick {' '.join(map(str, args))} exited {result.exit_code}, expected {expect}\n"
                f"output:\n{result.output}\nexception: {result.exception!r}"
            )
        return result


@pytest.fixture
def cli() -> Cli:
    return Cli()


def run_bonepick(*args: str | Path, check: bool = True, env: dict | None = None, timeout: float = 600):
    """Run the real console script in a subprocess (used where a separate process matters)."""
    full_env = {**os.environ, **(env or {})}
    command = [sys.executable, "-m", "bonepick", *[str(a) for a in args]]
    result = subprocess.run(command, capture_output=True, text=True, env=full_env, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


@pytest.fixture
def bonepick_subprocess():
    return run_bonepick
