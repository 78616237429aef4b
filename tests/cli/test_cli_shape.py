"""The shape of the command line: help, version, light imports, the generated README reference."""

from __future__ import annotations

import subprocess
import sys

from bonepick import __version__
from bonepick.cli.reference import BEGIN, END, render_reference
from tests.conftest import REPO

HEAVY = (
    "torch",
    "fasttext",
    "model2vec",
    "datasets",
    "openai",
    "sklearn",
    "matplotlib",
    "transformers",
    "ray",
    "jq",
)


def test_help_lists_panels_in_pipeline_order(cli) -> None:
    result = cli("--help")
    text = result.output
    panels = [
        "Data: prepare datasets",
        "Train",
        "Evaluate",
        "Score and filter",
        "Annotate with an LLM",
        "Info",
    ]
    positions = [text.find(p) for p in panels if p in text]
    assert positions == sorted(positions)
    assert "copy-dataset" in text and "version" in text


def test_version(cli) -> None:
    assert cli("version").output.strip() == __version__


def test_python_dash_m_works(bonepick_subprocess) -> None:
    assert bonepick_subprocess("version").stdout.strip() == __version__


def test_help_imports_no_heavy_library() -> None:
    code = (
        "import sys; from typer.testing import CliRunner; from bonepick.cli.main import app; "
        "CliRunner().invoke(app, ['--help']); "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "", f"bonepick --help imported heavy modules: {loaded}"


def test_every_command_has_help(cli) -> None:
    from typer.main import get_command

    from bonepick.cli.main import app

    for name in get_command(app).commands:  # type: ignore[attr-defined]
        result = cli(name, "--help")
        assert "Usage" in result.output, name


def test_readme_cli_reference_is_current() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert BEGIN in readme and END in readme, "README.md lacks the CLI reference markers"
    current = readme[readme.index(BEGIN) : readme.index(END) + len(END)]
    assert current == render_reference(), (
        "README.md's CLI reference is stale: run `uv run python -m bonepick.cli.reference --write README.md`"
    )
