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


def test_command_modules_map_matches_what_the_modules_register() -> None:
    """`bonepick NAME` imports only COMMAND_MODULES[NAME]: the map must name every command's module."""
    from bonepick.cli.main import COMMAND_MODULES, app

    registered = {info.name: info.callback.__module__ for info in app.registered_commands}
    for group in app.registered_groups:
        modules = {info.callback.__module__ for info in group.typer_instance.registered_commands}
        assert len(modules) == 1, group.name
        registered[group.name or group.typer_instance.info.name] = modules.pop()
    short = {name: module.rsplit(".", 1)[-1] for name, module in registered.items()}
    assert short == COMMAND_MODULES


def test_one_command_run_imports_only_its_module(tmp_path) -> None:
    code = (
        "import sys; from bonepick.cli import main as m; sys.argv = ['bonepick', *sys.argv[1:]]\n"
        "try:\n    m.main()\nexcept SystemExit as done:\n    code = done.code\n"
        "print(sorted(n for n in sys.modules if n.startswith('bonepick.cli.commands.')), code)"
    )

    def loaded(*argv: str) -> str:
        run = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True)
        return run.stdout.strip().splitlines()[-1]

    assert loaded("--debug", "version") == "['bonepick.cli.commands.info'] 0"
    assert loaded("count-tokens", "--help").startswith("['bonepick.cli.commands.tokens'] 0")
    everything = loaded("no-such-command")  # an unknown name gets click's message over every command
    assert "bonepick.cli.commands.data" in everything and everything.endswith(" 2")
