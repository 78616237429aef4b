"""Streaming JSON Lines reading and writing for plain, gzip and zstd shards.

Rows are parsed with orjson; every row keeps its 1-based line number so that errors further down
a pipeline can name ``file:line``.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import orjson
import zstandard

from bonepick.errors import DataError
from bonepick.io.atomic import atomic_path, temp_path_for
from bonepick.io.shards import compression_of
from bonepick.io.zstd_frames import check_complete

READ_BUFFER = 1 << 20
WRITE_BUFFER = 1 << 20
DEFAULT_ZSTD_LEVEL = 1
#: zstd compresses on this many background threads of its own (outside the GIL), so the thread that
#: reads, parses and serialises rows never waits for compression. Any value >= 1 gives the same
#: bytes (checked for 1-4), so output stays reproducible whatever the machine; two compressed a
#: 41 MB shard at level 1 in 0.13 CPU-s against 0.19 with one (benchmarks/io_throughput.py --breakdown).
ZSTD_WORKER_THREADS = 2


def open_binary_reader(path: str | Path) -> IO[bytes]:
    """A buffered binary stream of the decompressed bytes of ``path``."""
    path = Path(path)
    kind = compression_of(path)
    if kind == "zstd":
        check_complete(path)  # the streaming reader would stop quietly at a cut
    raw = open(path, "rb")  # noqa: SIM115 - closed by the returned stream
    if kind == "zstd":
        dctx = zstandard.ZstdDecompressor()
        return io.BufferedReader(
            dctx.stream_reader(raw, read_size=READ_BUFFER, closefd=True, read_across_frames=True), READ_BUFFER
        )
    if kind == "gzip":
        return io.BufferedReader(gzip.GzipFile(fileobj=raw, mode="rb"), READ_BUFFER)  # type: ignore[arg-type]
    return io.BufferedReader(raw, READ_BUFFER)  # type: ignore[arg-type]


@contextmanager
def reading_errors(path: str | Path) -> Iterator[None]:
    """Turn what a missing, truncated or mislabelled shard raises into a :class:`DataError`."""
    try:
        yield
    except (zstandard.ZstdError, OSError, EOFError) as error:
        if isinstance(error, FileNotFoundError):
            raise DataError("file not found", path) from error
        raise DataError(
            f"cannot decompress ({error})", path, hint="the file is truncated or not what its name says"
        ) from error


def iter_lines(path: str | Path) -> Iterator[tuple[int, bytes]]:
    """(line number, raw line) for every non-blank line of a shard."""
    with reading_errors(path), open_binary_reader(path) as stream:
        for number, line in enumerate(stream, start=1):
            if not line.isspace():
                yield number, line


def iter_rows(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) for every row of a shard; a malformed line raises :class:`DataError`."""
    for number, row, _size in iter_rows_sized(path):
        yield number, row


def iter_rows_sized(path: str | Path) -> Iterator[tuple[int, dict[str, Any], int]]:
    """(line number, row, bytes of the line) for every row of a shard."""
    for number, line in iter_lines(path):
        yield number, parse_line(line, path, number), len(line)


def parse_line(line: bytes, path: str | Path, number: int) -> dict[str, Any]:
    """Parse one JSON line into a dict, or raise :class:`DataError` naming ``path:number``."""
    try:
        row = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        raise DataError(
            f"malformed JSON ({error})", path, number, hint="each line must hold one JSON object"
        ) from None
    if not isinstance(row, dict):
        raise DataError(
            f"expected a JSON object, got {type(row).__name__}",
            path,
            number,
            hint="each line must hold one JSON object",
        )
    return row


def read_rows(path: str | Path) -> Iterator[dict[str, Any]]:
    """The rows of a shard, without line numbers."""
    for _, row in iter_rows(path):
        yield row


def dumps_row(row: Any) -> bytes:
    """One JSON line. Non-string keys and numpy scalars are accepted."""
    return orjson.dumps(row, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY) + b"\n"


class _Sink:
    """A compressed or plain binary sink over an open file."""

    def __init__(self, raw: IO[bytes], compression: str, level: int | None) -> None:
        self._raw = raw
        if compression == "zstd":
            cctx = zstandard.ZstdCompressor(
                level=DEFAULT_ZSTD_LEVEL if level is None else level, threads=ZSTD_WORKER_THREADS
            )
            self._stream: IO[bytes] = cctx.stream_writer(raw, closefd=False)  # type: ignore[assignment]
        elif compression == "gzip":
            self._stream = gzip.GzipFile(
                filename="", fileobj=raw, mode="wb", compresslevel=6 if level is None else level, mtime=0
            )
        else:
            self._stream = raw

    def write(self, data: bytes) -> None:
        self._stream.write(data)

    def close(self) -> None:
        if self._stream is not self._raw:
            self._stream.close()
        self._raw.close()


class _Publishes:
    """Context manager protocol of the writers: leaving the block normally publishes (``close``),
    leaving it by an exception drops what was written (``abort``)."""

    def close(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError

    def __enter__(self):  # noqa: ANN204 - returns the subclass
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class ShardWriter(_Publishes):
    """Writes rows to one shard under a temporary name and renames it into place on :meth:`close`.

    Used as a context manager: leaving the block normally publishes the shard, leaving it by an
    exception removes the temporary, so a reader never sees half a shard.
    """

    def __init__(self, path: str | Path, compression: str | None = None, level: int | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.compression = compression or compression_of(self.path)
        self.rows = 0
        self.bytes = 0
        self._tmp = temp_path_for(self.path)
        self._sink = _Sink(open(self._tmp, "wb"), self.compression, level)  # noqa: SIM115
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._closed = False

    def write(self, row: Any) -> None:
        self.write_line(dumps_row(row))

    def write_line(self, line: bytes) -> None:
        """Write an already-serialised JSON line (ending in a newline)."""
        self._buffer.append(line)
        self._buffered += len(line)
        self.rows += 1
        if self._buffered >= WRITE_BUFFER:
            self._flush()

    def write_block(self, data: bytes, rows: int) -> None:
        """Write ``rows`` already-serialised JSON lines joined in ``data`` (ending in a newline)."""
        if len(data) >= WRITE_BUFFER:
            self.write_pieces((data,), rows)
            return
        self._buffer.append(data)
        self._buffered += len(data)
        self.rows += rows
        if self._buffered >= WRITE_BUFFER:
            self._flush()

    def write_pieces(self, pieces: Iterable[bytes | memoryview], rows: int) -> None:
        """Write ``rows`` serialised lines given as consecutive pieces, straight to the file (no
        joining copy)."""
        self._flush()
        for piece in pieces:
            if len(piece):
                self._sink.write(piece)  # type: ignore[arg-type]
                self.bytes += len(piece)
        self.rows += rows

    def write_many(self, rows: Iterable[Any]) -> None:
        for row in rows:
            self.write(row)

    def _flush(self) -> None:
        if self._buffer:
            data = b"".join(self._buffer)
            self._sink.write(data)
            self.bytes += len(data)
            self._buffer.clear()
            self._buffered = 0

    def close(self) -> None:
        """Publish the shard."""
        if self._closed:
            return
        self._flush()
        self._sink.close()
        self._tmp.replace(self.path)
        self._closed = True

    def abort(self) -> None:
        """Drop the temporary; nothing is published."""
        if self._closed:
            return
        try:
            self._sink.close()
        finally:
            self._tmp.unlink(missing_ok=True)
            self._closed = True


class RotatingShardWriter(_Publishes):
    """Writes rows to ``<folder>/<prefix>_00000.jsonl.zst``, ``..._00001`` and so on,
    starting a new shard every ``rows_per_shard`` rows. Each shard is published atomically."""

    def __init__(
        self,
        folder: str | Path,
        prefix: str = "shard",
        rows_per_shard: int = 100_000,
        compression: str = "zstd",
        level: int | None = None,
    ) -> None:
        from bonepick.io.shards import OUTPUT_SUFFIX

        if rows_per_shard < 1:
            raise ValueError("rows_per_shard must be at least 1")
        self.folder = Path(folder)
        self.prefix = prefix
        self.rows_per_shard = rows_per_shard
        self.compression = compression
        self.level = level
        self.suffix = OUTPUT_SUFFIX[compression]
        self.paths: list[Path] = []
        self.rows = 0
        self._current: ShardWriter | None = None

    def _open_next(self) -> ShardWriter:
        path = self.folder / f"{self.prefix}_{len(self.paths):05d}{self.suffix}"
        self.paths.append(path)
        return ShardWriter(path, self.compression, self.level)

    def _writer(self) -> ShardWriter:
        if self._current is None or self._current.rows >= self.rows_per_shard:
            if self._current is not None:
                self._current.close()
            self._current = self._open_next()
        return self._current

    def write(self, row: Any) -> None:
        self._writer().write(row)
        self.rows += 1

    def write_line(self, line: bytes) -> None:
        """Write an already-serialised JSON line (ending in a newline)."""
        self._writer().write_line(line)
        self.rows += 1

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
            self._current = None

    def abort(self) -> None:
        if self._current is not None:
            self._current.abort()
            self._current = None


def write_rows(
    path: str | Path, rows: Iterable[Any], compression: str | None = None, level: int | None = None
) -> int:
    """Write all ``rows`` to one shard atomically; returns the row count."""
    with ShardWriter(path, compression, level) as writer:
        writer.write_many(rows)
    return writer.rows


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
