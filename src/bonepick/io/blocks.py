"""Reading shards a block of lines at a time, for the stages whose cost is per row.

:func:`iter_blocks` reads about 1 MB of decompressed bytes at once and splits it into lines in
C, so a stage can size, parse, select and write thousands of rows with a few C-level calls
instead of a Python step per row. The rows are the non-blank lines (the same rule as
:func:`bonepick.io.jsonl.iter_lines`), without their newline; physical line numbers are worked
out only when an error has to name one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import compress
from pathlib import Path
from typing import Any

import orjson

from bonepick.io.jsonl import ShardWriter, open_binary_reader, parse_line, reading_errors

BLOCK_BYTES = 1 << 20


@dataclass
class Block:
    """Consecutive rows of a shard: ``rows`` are the non-blank lines among ``lines`` (the
    physical lines starting at line ``first_line``)."""

    path: Path
    first_line: int
    lines: list[bytes]
    rows: list[bytes]
    #: the block's bytes as read (every line with its newline), as pieces that need no copying;
    #: None for a last line without a newline
    body: tuple[bytes, memoryview] | None = None

    @property
    def verbatim(self) -> tuple[bytes, memoryview] | None:
        """:attr:`body` when writing it is the same as writing every row (no blank line), else None."""
        return self.body if len(self.rows) == len(self.lines) else None

    def line_number(self, row_index: int) -> int:
        """The physical line number of ``rows[row_index]``."""
        seen = -1
        for offset, line in enumerate(self.lines):
            if line and not line.isspace():
                seen += 1
                if seen == row_index:
                    return self.first_line + offset
        raise IndexError(row_index)

    def parse(self) -> list[dict[str, Any]]:
        """Every row as a dict; a malformed one raises :class:`DataError` naming file:line."""
        try:
            parsed = list(map(orjson.loads, self.rows))
        except orjson.JSONDecodeError:
            parsed = None
        if parsed is None or (parsed and set(map(type, parsed)) != {dict}):
            for index, raw in enumerate(self.rows):
                parse_line(raw, self.path, self.line_number(index))
            raise AssertionError("unreachable: some row failed to parse")  # pragma: no cover
        return parsed

    def check(self) -> None:
        """Check every row is a JSON object without keeping the parsed rows: each dict is freed
        as soon as it is made, which is about 1.5x faster than :meth:`parse` (no list of
        thousands of live dicts for the cache and the garbage collector)."""
        try:
            kinds = set(map(type, map(orjson.loads, self.rows)))
        except orjson.JSONDecodeError:
            kinds = None
        if kinds is None or not kinds <= {dict}:
            self.parse()  # raises, naming the line
            raise AssertionError("unreachable: some row failed to parse")  # pragma: no cover

    def field_values(self, key: str, missing: Any = None) -> list[Any]:
        """Every row's top-level ``key`` (``missing`` where a row lacks it), checking each row
        is a JSON object as :meth:`check` does, without keeping the parsed rows."""
        try:
            return [row.get(key, missing) for row in map(orjson.loads, self.rows)]
        except (orjson.JSONDecodeError, AttributeError):
            self.parse()  # a malformed row or one that is not an object: raises, naming the line
            raise AssertionError("unreachable: some row failed to parse") from None  # pragma: no cover

    def row_line_numbers(self) -> range | list[int]:
        """The physical line number of every row, in order."""
        if len(self.rows) == len(self.lines):
            return range(self.first_line, self.first_line + len(self.lines))
        return [
            self.first_line + offset for offset, line in enumerate(self.lines) if line and not line.isspace()
        ]

    def sizes(self) -> list[int]:
        """Bytes of each row as a JSON line, newline included."""
        return [n + 1 for n in map(len, self.rows)]

    def total_bytes(self) -> int:
        """Bytes of all rows as JSON lines, newlines included."""
        return sum(map(len, self.rows)) + len(self.rows)


def _rows_of(lines: list[bytes]) -> list[bytes]:
    """The non-blank lines, with C-level passes only in the usual case of no whitespace-only line."""
    rows = list(filter(None, lines))
    if any(map(bytes.isspace, rows)):
        rows = [line for line in rows if not line.isspace()]
    return rows


def iter_blocks(path: str | Path, block_bytes: int = BLOCK_BYTES) -> Iterator[Block]:
    """The shard's rows in blocks of about ``block_bytes``."""
    path = Path(path)
    number = 1
    tail = b""
    with reading_errors(path), open_binary_reader(path) as stream:
        while chunk := stream.read(block_bytes):
            lines = chunk.split(b"\n")
            rest = lines.pop()  # the start of a line the next chunk finishes
            if not lines:
                tail += rest
                continue
            body = (tail, memoryview(chunk)[: len(chunk) - len(rest)])
            if tail:
                lines[0] = tail + lines[0]
            yield Block(path, number, lines, _rows_of(lines), body)
            number += len(lines)
            tail = rest
    if tail:
        yield Block(path, number, [tail], _rows_of([tail]))


def write_rows_raw(writer: ShardWriter, rows: list[bytes], block: Block | None = None) -> int:
    """Write rows (lines without their newline) as they are; returns the bytes written. When
    ``rows`` are all of ``block``'s rows, the bytes as read are written without a copy."""
    if not rows:
        return 0
    verbatim = block.verbatim if block is not None and rows is block.rows else None
    if verbatim is not None:
        writer.write_pieces(verbatim, len(rows))
        return sum(map(len, verbatim))
    data = b"\n".join([*rows, b""])
    writer.write_block(data, len(rows))
    return len(data)


def select(rows: list[bytes], mask: Any) -> list[bytes]:
    return list(compress(rows, mask))
