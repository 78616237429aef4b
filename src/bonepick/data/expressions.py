"""jq expressions over rows, compiled once, with a fast path for plain field paths.

``.text`` or ``.meta.score`` are read straight from the dict (no JSON round trip); anything else
goes through the ``jq`` bindings. Errors name the expression and, when given, the file and line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from bonepick.errors import DataError, UsageError

_PLAIN_PATH = re.compile(r"^(\.[A-Za-z_][A-Za-z0-9_]*)+$")
_MISSING = object()


class Expression:
    """A compiled jq expression. Picklable: it recompiles itself in a worker process."""

    def __init__(self, source: str) -> None:
        self.source = source.strip()
        if not self.source:
            raise UsageError("empty jq expression", hint="pass something like '.text'")
        self._path: tuple[str, ...] | None = None
        self._program: Any = None
        if self.source == ".":
            self._path = ()
        elif _PLAIN_PATH.match(self.source):
            self._path = tuple(self.source[1:].split("."))
        else:
            self._compile()

    def _compile(self) -> None:
        import jq

        try:
            self._program = jq.compile(self.source)
        except ValueError as error:
            first = str(error).strip().splitlines()[0]
            raise UsageError(f"invalid jq expression '{self.source}': {first}") from None

    def __getstate__(self) -> dict[str, Any]:
        return {"source": self.source}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["source"])  # type: ignore[misc]

    @property
    def is_plain_path(self) -> bool:
        return self._path is not None

    @property
    def field(self) -> str | None:
        """The key of a one-level ``.name`` expression, which a caller may read straight from the
        row (``row.get(field)``), else None."""
        return self._path[0] if self._path is not None and len(self._path) == 1 else None

    def all(self, row: Any, path: str | Path | None = None, line: int | None = None) -> list[Any]:
        """Every output of the expression for ``row`` (jq semantics: may be zero or many)."""
        if self._path is not None:
            value = row
            for key in self._path:
                if not isinstance(value, dict):
                    if value is None:
                        return [None]
                    raise DataError(
                        f"jq expression '{self.source}': cannot index {type(value).__name__} with '{key}'",
                        path,
                        line,
                    )
                value = value.get(key)
            return [value]
        try:
            return self._program.input_text(orjson.dumps(row).decode("utf-8")).all()
        except ValueError as error:
            raise DataError(f"jq expression '{self.source}' failed: {error}", path, line) from None

    def first(
        self, row: Any, path: str | Path | None = None, line: int | None = None, *, required: bool = True
    ) -> Any:
        """The single value the expression yields; no output (or ``null`` when required) is an error."""
        values = self.all(row, path, line)
        if not values:
            raise DataError(
                f"jq expression '{self.source}' yielded nothing",
                path,
                line,
                hint="check the field names, or pass --skip-errors where the command offers it",
            )
        value = values[0]
        if required and value is None:
            raise DataError(
                f"jq expression '{self.source}' gave null (missing field?)",
                path,
                line,
                hint="check the field names, or use a different expression",
            )
        return value

    def text(self, row: Any, path: str | Path | None = None, line: int | None = None) -> str:
        """The expression's value, which must be a string."""
        value = self.first(row, path, line)
        if not isinstance(value, str):
            raise DataError(
                f"jq expression '{self.source}' gave {type(value).__name__}, expected a string", path, line
            )
        return value

    def texts(self, rows: list[Any], path: str | Path | None, lines: Sequence[int]) -> list[str]:
        """:meth:`text` of every row (``lines`` are their line numbers, for errors), with no
        per-row call in the common case of a top-level key such as ``.text``."""
        key = self.field
        if key is not None:
            try:
                values = [row.get(key) for row in rows]
            except AttributeError:
                values = None
            if values is not None and all(type(v) is str for v in values):
                return values  # type: ignore[return-value]
        return [self.text(row, path, line) for row, line in zip(rows, lines, strict=True)]

    def firsts(self, rows: list[Any], path: str | Path | None, lines: Sequence[int]) -> list[Any]:
        """The first output for every row, ``None`` where there is none (e.g. an optional id)."""
        key = self.field
        if key is not None and all(type(row) is dict for row in rows):
            return [row.get(key) for row in rows]
        out = []
        for row, line in zip(rows, lines, strict=True):
            values = self.all(row, path, line)
            out.append(values[0] if values else None)
        return out

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"


def label_to_str(value: Any) -> str:
    """Class names are strings everywhere: ``1`` and ``"1"`` are the same class, ``1.0`` is ``"1"``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
