"""A zstd shard cut short is an error, not fewer rows: the frame walk against every cut."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import zstandard

from bonepick.errors import DataError
from bonepick.io import read_rows
from bonepick.io.zstd_frames import check_complete
from tests.conftest import SPAM


def _payload() -> bytes:
    """Real rows: a test shard's decompressed bytes."""
    data = (SPAM / "test" / "part_00.jsonl.zst").read_bytes()
    return zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True).read()


def _streamed(data: bytes, **options: object) -> bytes:
    out = io.BytesIO()
    with zstandard.ZstdCompressor(**options).stream_writer(out, closefd=False) as writer:  # type: ignore[arg-type]
        for start in range(0, len(data), 65536):
            writer.write(data[start : start + 65536])
    return out.getvalue()


def _frames(payload: bytes) -> dict[str, tuple[bytes, set[int]]]:
    """Encodings of real rows, each with the cut lengths that are themselves whole streams."""
    first = zstandard.ZstdCompressor(level=3).compress(payload[:5000])
    skippable = (0x184D2A53).to_bytes(4, "little") + (5).to_bytes(4, "little") + b"bonep"
    return {
        "one frame, content size": (zstandard.ZstdCompressor(level=3).compress(payload), set()),
        "checksum, no content size": (
            zstandard.ZstdCompressor(level=1, write_checksum=True, write_content_size=False).compress(
                payload
            ),
            set(),
        ),
        "streamed on two threads (as bonepick writes)": (_streamed(payload, level=1, threads=2), set()),
        "single segment": (zstandard.ZstdCompressor(level=19).compress(b'{"a": 1}\n'), set()),
        "run-length block": (zstandard.ZstdCompressor(level=1).compress(b"\n" * 300_000), set()),
        "two frames": (
            first + zstandard.ZstdCompressor(write_checksum=True).compress(payload[5000:]),
            {len(first)},
        ),
        "skippable frame first": (
            skippable + zstandard.ZstdCompressor().compress(payload),
            {len(skippable)},
        ),
    }


def test_whole_files_pass_and_every_cut_fails(tmp_path: Path) -> None:
    payload = _payload()
    path = tmp_path / "x.jsonl.zst"
    for data, whole_cuts in _frames(payload).values():
        path.write_bytes(data)
        check_complete(path)
        step = max(1, len(data) // 2000)  # every cut of the small ones, 2,000 of the large ones
        cuts = sorted(set(range(1, len(data), step)) | {len(data) - 1, len(data) - 4, *whole_cuts})
        for cut in cuts:
            path.write_bytes(data[:cut])
            if cut in whole_cuts:
                check_complete(path)  # a cut between frames leaves a valid (shorter) stream
                continue
            with pytest.raises(DataError, match=r"x\.jsonl\.zst: cannot decompress"):
                check_complete(path)


def test_shipped_shards_pass() -> None:
    for path in sorted(SPAM.rglob("*.jsonl.zst")):
        check_complete(path)


def test_reading_a_cut_shard_names_the_file(tmp_path: Path) -> None:
    """Before this check, a shard cut inside its first block read as zero rows, silently."""
    data = (SPAM / "train" / "part_01.jsonl.zst").read_bytes()
    path = tmp_path / "cut.jsonl.zst"
    for cut in (100, len(data) // 2, len(data) - 1):
        path.write_bytes(data[:cut])
        with pytest.raises(DataError, match=r"cut\.jsonl\.zst: cannot decompress \(truncated"):
            list(read_rows(path))
    path.write_bytes(b"")
    with pytest.raises(DataError, match="empty file"):
        list(read_rows(path))


def test_a_cut_gzip_shard_is_an_error_too(tmp_path: Path) -> None:
    import gzip

    data = gzip.compress(_payload())
    path = tmp_path / "cut.jsonl.gz"
    for cut in (20, len(data) // 2, len(data) - 3):
        path.write_bytes(data[:cut])
        with pytest.raises(DataError, match=r"cut\.jsonl\.gz: cannot decompress"):
            list(read_rows(path))
