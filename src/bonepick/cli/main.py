"""Entry point. Command modules are imported in pipeline order so ``--help`` lists the panels in
that order; they are light (heavy libraries are imported inside the commands that use them)."""

from __future__ import annotations

import importlib
import pkgutil

from bonepick.cli import commands
from bonepick.cli.app import app

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
    "demo": 85,
    "info": 90,
}


def _import_commands() -> None:
    names = [info.name for info in pkgutil.iter_modules(commands.__path__)]
    for name in sorted(names, key=lambda n: (COMMAND_ORDER.get(n, 100), n)):
        importlib.import_module(f"{commands.__name__}.{name}")


_import_commands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
