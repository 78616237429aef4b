"""Feeding jq only the fields an expression reads.

The ``jq`` bindings spend nearly all their time parsing the row's JSON, and in a text dataset
that is mostly the long ``text`` field, which a label expression such as
``{score: (if .score < 2 then 0 else 1 end)}`` never looks at. :func:`referenced_fields` reads
the expression conservatively: when the only way it touches the input row is through
``.name`` paths, it returns those names, and evaluating the expression on the row cut down to
them gives the same result. Anything it cannot vouch for (a bare ``.``, ``..``, ``.[...]``,
string interpolation, ``as`` bindings, ``reduce``/``foreach``/``def``, or a builtin that could
read the whole row such as ``keys`` or ``length`` not right after a ``|``) returns None, and the
full row is used.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from bonepick.data.expressions import Expression
from bonepick.errors import DataError

# keywords and zero-input builtins that never read the row by themselves
_SAFE_WORDS = {
    "if",
    "then",
    "elif",
    "else",
    "end",
    "and",
    "or",
    "not",
    "try",
    "catch",
    "true",
    "false",
    "null",
    "empty",
}
_UNSAFE_WORDS = {"as", "def", "reduce", "foreach", "label", "import", "include", "input", "inputs"}
# builtins whose result is not a function of the row alone (or that have side effects)
_IMPURE_WORDS = {"now", "input_line_number", "debug", "stderr", "input_filename", "halt", "halt_error"}
_ABSENT = object()  # a field the row does not have (jq's null is a different input)
#: distinct projected inputs remembered per expression (then the memory is cleared)
MEMO_ENTRIES = 1 << 16
_TOKEN = re.compile(
    r"""
    (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<field>\.[A-Za-z_][A-Za-z0-9_]*)
  | (?P<dotdot>\.\.)
  | (?P<dot>\.)
  | (?P<var>\$[A-Za-z_][A-Za-z0-9_]*)
  | (?P<format>@[A-Za-z_][A-Za-z0-9_]*)
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)
  | (?P<op>\?//|//=|\|=|\+=|-=|\*=|/=|%=|==|!=|<=|>=|//|[-+*/%<>=|,:;()\[\]{}?])
  | (?P<space>\s+)
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)


def referenced_fields(source: str) -> frozenset[str] | None:
    """Top-level fields ``source`` can read, or None when the whole row may matter."""
    tokens: list[tuple[str, str]] = []
    for match in _TOKEN.finditer(source):
        kind = match.lastgroup or "other"
        text = match.group()
        if kind == "space":
            continue
        if kind in ("other", "dotdot") or (kind == "string" and "\\(" in text):
            return None
        tokens.append((kind, text))
    fields: set[str] = set()
    stack: list[str] = []
    for index, (kind, text) in enumerate(tokens):
        previous = tokens[index - 1] if index > 0 else ("", "")
        following = tokens[index + 1] if index + 1 < len(tokens) else ("", "")
        if kind == "op" and text in "([{":
            stack.append(text)
        elif kind == "op" and text in ")]}":
            if not stack:
                return None
            stack.pop()
        elif kind == "field":
            fields.add(text[1:])
        elif kind == "dot":
            return None  # the row itself, or .[...] / ."name" on it
        elif kind in ("word", "format"):
            if text in _UNSAFE_WORDS:
                return None
            if text in _SAFE_WORDS:
                continue
            in_object = bool(stack) and stack[-1] == "{"
            if in_object and following == ("op", ":"):
                continue  # an object key: {score: ...}
            if (
                in_object
                and previous in (("op", "{"), ("op", ","))
                and following in (("op", ","), ("op", "}"))
            ):
                fields.add(text)  # {score} is {score: .score}
                continue
            if previous == ("op", "|"):
                continue  # a builtin applied to the output of the left-hand side
            return None
    if stack:
        return None
    return frozenset(fields)


def is_pure(source: str) -> bool:
    """Whether the same input always gives the same output (no clock, no line numbers)."""
    return not any(
        match.lastgroup == "word" and match.group() in _IMPURE_WORDS for match in _TOKEN.finditer(source)
    )


class ProjectedExpression(Expression):
    """An :class:`Expression` that hands jq only the fields it reads (see the module doc).

    When it reads only some fields and is pure, its outputs are remembered per distinct
    projected input: a label expression over ``.score`` or ``.label`` sees a handful of distinct
    inputs in a million rows, so jq runs a handful of times instead of a million.
    """

    def __init__(self, source: str) -> None:
        super().__init__(source)
        self.fields = None if self.is_plain_path else referenced_fields(self.source)
        self.memoized = self.fields is not None and is_pure(self.source)
        self._batch: Any = None
        self._memo: dict[Any, list[Any]] = {}

    def all(self, row: Any, path: Any = None, line: int | None = None) -> list[Any]:
        if self.fields is not None and isinstance(row, dict):
            row = {key: row[key] for key in self.fields if key in row}
        return super().all(row, path, line)

    def __getstate__(self) -> dict[str, Any]:
        return {"source": self.source}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["source"])  # type: ignore[misc]

    def all_batch(self, rows: list[dict[str, Any]]) -> list[list[Any]] | None:
        """Every output for each row, from one jq call for the whole batch (a call per row costs
        more than the work). None when some row fails: the caller then goes row by row to name it.
        Rows with the same projected input share one output list: treat it as read-only."""
        if self.is_plain_path:
            try:
                return [self.all(row) for row in rows]
            except DataError:
                return None
        if self._batch is None:
            import jq

            self._batch = jq.compile(f"[{self.source}]")
        fields = self.fields
        if fields is None:
            return self._run(list(map(orjson.dumps, rows)))
        if not self.memoized:
            return self._run([orjson.dumps({key: row[key] for key in fields if key in row}) for row in rows])
        keys = self._memo_keys(rows)
        memo = self._memo
        missing = {key: row for key, row in zip(keys, rows, strict=True) if key not in memo}
        if missing:
            outputs = self._run(
                [orjson.dumps({k: row[k] for k in fields if k in row}) for row in missing.values()]
            )
            if outputs is None:
                return None
            if len(memo) + len(missing) > MEMO_ENTRIES:
                memo.clear()  # bounded: at most MEMO_ENTRIES plus one batch
            memo.update(zip(missing, outputs, strict=True))
        return [memo[key] for key in keys]

    def _memo_keys(self, rows: list[dict[str, Any]]) -> list[Any]:
        """A key per row that equal projected inputs share. With one field, the value itself
        (strings as they are, other scalars tagged with their type, so that ``1``, ``1.0`` and
        ``true`` stay apart, floats by their exact bits so ``-0.0`` is not ``0.0``); otherwise, or for list and dict values, the projected row's JSON."""
        fields = self.fields
        assert fields is not None
        if len(fields) == 1:
            [name] = fields
            values = [row.get(name, _ABSENT) for row in rows]
            keys = [v if type(v) is str else (type(v), v.hex() if type(v) is float else v) for v in values]
            try:
                frozenset(keys)  # every key hashable (no list or dict values)
                return keys
            except TypeError:
                pass
        return [b"j" + orjson.dumps({key: row[key] for key in fields if key in row}) for row in rows]

    def _run(self, inputs: list[bytes]) -> list[list[Any]] | None:
        """``[expression]`` on each serialised input, in one jq call."""
        text = b"\n".join(inputs).decode("utf-8")
        try:
            out = self._batch.input_text(text).all()
        except ValueError:
            return None
        return out if len(out) == len(inputs) else None
