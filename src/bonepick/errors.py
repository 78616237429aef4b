"""The exception hierarchy: every error a user can cause carries a message and a hint.

The CLI turns a :class:`BonepickError` into one line on stderr plus its hint and exit code 1;
anything else is a bug and gets a traceback only with ``--debug``.
"""

from __future__ import annotations

from pathlib import Path


class BonepickError(Exception):
    """A problem the user can fix: bad input, bad option, missing file."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __reduce__(self):  # keep errors intact across process boundaries
        return (_rebuild, (type(self), self.__dict__.copy()))

    def __str__(self) -> str:
        return self.message


def _rebuild(cls: type[BonepickError], state: dict) -> BonepickError:
    error = cls.__new__(cls)
    Exception.__init__(error, state.get("message", ""))
    error.__dict__.update(state)
    return error


class UsageError(BonepickError):
    """An option value or combination of options that cannot work."""


class InputNotFoundError(BonepickError):
    """A file or folder that should exist does not."""


class DataError(BonepickError):
    """A row of input that cannot be used; names the file and line."""

    def __init__(
        self, message: str, path: str | Path | None = None, line: int | None = None, hint: str | None = None
    ) -> None:
        location = ""
        if path is not None:
            location = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(location + message, hint)
        self.path = str(path) if path is not None else None
        self.line = line


class ModelError(BonepickError):
    """A model folder or file that cannot be loaded or does not fit the task."""


class MissingDependencyError(BonepickError):
    """An optional dependency is not installed."""

    def __init__(self, package: str, extra: str | None = None, purpose: str = "") -> None:
        fix = f"uv sync --extra {extra}" if extra else f"uv pip install {package}"
        what = f" for {purpose}" if purpose else ""
        super().__init__(
            f"the optional package '{package}' is needed{what} but is not installed",
            hint=f"install it with `{fix}` (or `pip install 'bonepick[{extra}]'`)"
            if extra
            else f"run `{fix}`",
        )
