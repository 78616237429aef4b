"""Entry point.

A run of one command imports only the module that defines it (:data:`COMMAND_MODULES`): typer
builds the click group of every registered command on each call, and importing and building all
34 commands costs about 0.1 s per invocation, which a script calling bonepick in a loop pays every
time. ``--help``, an unknown name and ``from bonepick.cli.main import app`` load every command
module, in pipeline order so ``--help`` lists the panels in that order. Command modules are light
(heavy libraries are imported inside the commands that use them).
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Sequence
from typing import Any

from bonepick.cli import app as app_module
from bonepick.cli import commands

#: where each command module's panel sits in ``--help``; modules not listed come last
COMMAND_ORDER = {
    "data": 10,
    "normalize": 11,
    "tokens": 12,
    "model2vec": 20,
    "fasttext": 30,
    "encoder": 40,
    "evaluate": 50,
    "calibration": 55,
    "infer": 60,
    "annotate": 70,
    "prompts": 71,
    "agreement": 75,
    "bootstrap": 80,
    "info": 90,
}

#: the module under bonepick.cli.commands defining each top-level command (a test keeps it in
#: step with what the modules register)
COMMAND_MODULES = {
    "import-hf-dataset": "data",
    "transform-dataset": "data",
    "balance-dataset": "data",
    "sample-dataset": "data",
    "reshard-dataset": "data",
    "copy-dataset": "data",
    "convert-to-fasttext": "data",
    "normalize-dataset": "normalize",
    "count-tokens": "tokens",
    "label-distribution": "tokens",
    "train-model2vec": "model2vec",
    "train-contrastive": "model2vec",
    "distill-model2vec": "model2vec",
    "train-fasttext": "fasttext",
    "quantize-fasttext": "fasttext",
    "train-encoder": "encoder",
    "eval": "evaluate",
    "eval-model2vec": "evaluate",
    "eval-fasttext": "evaluate",
    "compare": "evaluate",
    "train-calibration": "calibration",
    "eval-calibration": "calibration",
    "infer": "infer",
    "thresholds": "infer",
    "filter": "infer",
    "annotate-dataset": "annotate",
    "annotate-batch": "annotate",
    "annotation-summary": "annotate",
    "list-prompts": "prompts",
    "show-prompt": "prompts",
    "annotation-agreement": "agreement",
    "bootstrap": "bootstrap",
    "version": "info",
}


def import_commands() -> None:
    """Import every command module (each registers its commands), in pipeline order."""
    names = [info.name for info in pkgutil.iter_modules(commands.__path__)]
    for name in sorted(names, key=lambda n: (COMMAND_ORDER.get(n, 100), n)):
        importlib.import_module(f"{commands.__name__}.{name}")


def requested_command(argv: Sequence[str]) -> str | None:
    """The command name in a command line (the first word that is not an option of the root)."""
    for word in argv:
        if word == "--":
            return None
        if not word.startswith("-"):
            return word
    return None


def main() -> None:
    module = COMMAND_MODULES.get(requested_command(sys.argv[1:]) or "")
    if module is None:
        import_commands()
    else:
        importlib.import_module(f"{commands.__name__}.{module}")
    app_module.app()


def __getattr__(name: str) -> Any:
    # `from bonepick.cli.main import app`: the application with every command registered
    if name == "app":
        import_commands()
        return app_module.app
    raise AttributeError(name)


if __name__ == "__main__":
    main()
