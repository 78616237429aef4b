"""The Typer application, the command decorator and the error boundary.

Every command is registered through :func:`command`, which puts it in its help panel, records its
arguments for the provenance file, and turns a :class:`~bonepick.errors.BonepickError` into one
clear message and exit code 1 (a traceback only with ``--debug`` or ``BONEPICK_DEBUG=1``).
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import typer

from bonepick.errors import BonepickError

PANELS = {
    "data": "Data: prepare datasets",
    "train": "Train",
    "evaluate": "Evaluate",
    "infer": "Score and filter",
    "annotate": "Annotate with an LLM",
    "info": "Info",
}

app = typer.Typer(
    name="bonepick",
    help="Turn raw text collections into fast text-quality classifiers.\n\n"
    "Datasets are folders with train/, test/ and optional valid/ subfolders of .jsonl, .jsonl.gz "
    "or .jsonl.zst shards.",
    rich_markup_mode="markdown",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_debug = {"on": False}


def debug_enabled() -> bool:
    return _debug["on"] or os.environ.get("BONEPICK_DEBUG", "") not in ("", "0", "false")


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks (also BONEPICK_DEBUG=1)."),
) -> None:
    _debug["on"] = debug


@dataclass
class Invocation:
    """The command being run, for the provenance file."""

    command: str
    arguments: dict[str, Any]
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    clock: float = field(default_factory=time.perf_counter)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.clock


current_invocation: ContextVar[Invocation | None] = ContextVar("current_invocation", default=None)


def command(
    panel: str, name: str | None = None, *, group: typer.Typer | None = None, **kwargs: Any
) -> Callable[[Callable], Callable]:
    """Register a command in a help panel, behind the error boundary.

    ``group`` registers it as a sub-command of a Typer group (``bonepick GROUP NAME``) instead of
    the top-level app; the provenance then names it ``GROUP NAME``.
    """

    def decorator(func: Callable) -> Callable:
        command_name = name or func.__name__.replace("_", "-")
        full_name = (
            f"{group.info.name} {command_name}" if group is not None and group.info.name else command_name
        )

        @functools.wraps(func)
        def wrapper(*args: Any, **params: Any) -> Any:
            token = current_invocation.set(Invocation(full_name, dict(params)))
            try:
                return func(*args, **params)
            except (typer.Exit, typer.Abort):
                raise
            except BonepickError as error:
                if debug_enabled():
                    raise
                from bonepick.cli import output

                output.error(error.message, error.hint)
                raise typer.Exit(1) from None
            except KeyboardInterrupt:
                from bonepick.cli import output

                output.error("interrupted", "complete shards were kept; rerun the same command to resume")
                raise typer.Exit(130) from None
            except OSError as error:
                if debug_enabled():
                    raise
                from bonepick.cli import output

                output.error(str(error), "check the path and its permissions")
                raise typer.Exit(1) from None
            except Exception as error:
                if debug_enabled():
                    raise
                from bonepick.cli import output

                output.error(
                    f"internal error: {type(error).__name__}: {error}",
                    "this is a bug in bonepick; rerun with --debug for the traceback and report it",
                )
                raise typer.Exit(1) from None
            finally:
                current_invocation.reset(token)

        (group or app).command(name=command_name, rich_help_panel=PANELS[panel], **kwargs)(wrapper)
        return func

    return decorator
