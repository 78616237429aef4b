"""Reading scores back: one number per document from attribute rows or inline-scored documents,
and documents paired line by line with their attribute rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bonepick.data.expressions import Expression
from bonepick.errors import DataError, UsageError
from bonepick.io.jsonl import iter_rows, iter_rows_sized


class ScoreReader:
    """Pulls the number to threshold on out of a row: ``row[name]`` when it is a number, or
    ``row[name][label]`` when it is a ``{label: probability}`` mapping."""

    def __init__(self, name: str, label: str | None = None) -> None:
        self.name = name
        self.label = label

    def __call__(self, row: dict[str, Any], path: Path, line: int) -> float:
        value = row.get(self.name)
        if isinstance(value, dict):
            label = self.label
            if label is None:
                if len(value) != 1:
                    raise UsageError(
                        f"the '{self.name}' scores have several labels ({', '.join(map(str, value))})",
                        hint="pass --label with the one to threshold on",
                    )
                label = next(iter(value))
            value = value.get(label)
            if value is None:
                raise DataError(
                    f"no score for label '{label}' in '{self.name}' ({', '.join(map(str, row[self.name]))})",
                    path,
                    line,
                    hint="pass a --label the model has",
                )
        if isinstance(value, bool) or not isinstance(value, int | float):
            if self.name not in row:
                fields = ", ".join(sorted(map(str, row))) or "none"
                raise DataError(
                    f"no score field '{self.name}' (fields: {fields})",
                    path,
                    line,
                    hint="pass the --name the scores were written under",
                )
            raise DataError(f"the score '{self.name}' is {type(value).__name__}, not a number", path, line)
        return float(value)


class ScorePairs:
    """Walks a score file in step with its document file, checking that they belong together:
    the same number of rows and, where the score rows carry ids, the same ids."""

    def __init__(self, doc_path: Path, score_path: Path, id_expression: str | None = ".id") -> None:
        self.doc_path = doc_path
        self.score_path = score_path
        self._ids = Expression(id_expression) if id_expression else None
        self._scores = iter_rows(score_path)
        self.count = 0

    def match(self, doc: dict[str, Any], line: int) -> dict[str, Any]:
        """The score row of the document at ``line``."""
        paired = next(self._scores, None)
        if paired is None:
            raise DataError(
                f"{self.score_path} has {self.count} rows but the documents have more",
                self.doc_path,
                line,
                hint="the scores belong to other documents, or were cut short; rerun infer",
            )
        score_line, score_row = paired
        self.count += 1
        if self._ids is not None:
            expected = score_row.get("id")
            if expected is not None:
                values = self._ids.all(doc, self.doc_path, line)
                actual = values[0] if values else None
                if actual != expected:
                    raise DataError(
                        f"document id {actual!r} does not match id {expected!r} at "
                        f"{self.score_path}:{score_line}",
                        self.doc_path,
                        line,
                        hint="the scores belong to other documents; rerun infer on these documents",
                    )
        return score_row

    def finish(self) -> None:
        """Fail if the score file has rows left over."""
        extra = next(self._scores, None)
        if extra is not None:
            raise DataError(
                f"has more rows than the {self.count} documents of {self.doc_path}",
                self.score_path,
                extra[0],
                hint="the scores belong to other documents; rerun infer on these documents",
            )


def iter_paired(
    doc_path: Path, score_path: Path | None, id_expression: str | None = ".id"
) -> Iterator[tuple[int, dict[str, Any], dict[str, Any], int]]:
    """(line, document, score row, bytes of the document line) in file order; without
    ``score_path`` the documents carry their own (inline) scores."""
    pairs = ScorePairs(doc_path, score_path, id_expression) if score_path is not None else None
    for line, doc, size in iter_rows_sized(doc_path):
        yield line, doc, (pairs.match(doc, line) if pairs is not None else doc), size
    if pairs is not None:
        pairs.finish()
