"""Checking that a zstd file is whole before it is read.

python-zstandard's streaming reader stops quietly at the end of its input, even in the middle
of a frame: a shard cut short at a block boundary reads as fewer rows, and one cut inside its
first block reads as an empty shard, with no error. :func:`check_complete` walks the frame and
block headers of the file (the layout is in RFC 8878, sections 3.1.1 and 3.1.1.2) and raises
when the declared sizes run past the end of the file or the last frame has no last block. It
reads a few bytes per compressed block (at most 128 KiB each), about a millisecond per 40 MB;
whether the blocks decode is still the decoder's job.
"""

from __future__ import annotations

import mmap
from pathlib import Path

from bonepick.errors import DataError

_FRAME_MAGIC = 0xFD2FB528
_SKIPPABLE_MASK = 0xFFFFFFF0
_SKIPPABLE_MAGIC = 0x184D2A50
_FCS_BYTES = (0, 2, 4, 8)  # by Frame_Content_Size_flag (0 means 1 byte with Single_Segment_flag)
_DICT_ID_BYTES = (0, 1, 2, 4)
_HINT = "the file is truncated or not what its name says; copy or write it again"


def _error(what: str, path: Path) -> DataError:
    return DataError(f"cannot decompress ({what})", path, hint=_HINT)


def check_complete(path: str | Path) -> None:
    """Raise :class:`DataError` unless ``path`` holds whole zstd frames up to its last byte."""
    path = Path(path)
    with open(path, "rb") as handle:
        size = handle.seek(0, 2)
        if size == 0:
            raise _error("empty file, no zstd frame", path)
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            position = 0
            while position < size:
                position = _frame_end(data, position, size, path)


def _need(size: int, end: int, path: Path, what: str) -> None:
    if end > size:
        raise _error(f"truncated: {what} runs past the end of the file", path)


def _frame_end(data: mmap.mmap, start: int, size: int, path: Path) -> int:
    """Where the frame (or skippable frame) starting at ``start`` ends."""
    _need(size, start + 4, path, "a frame header")
    magic = int.from_bytes(data[start : start + 4], "little")
    if magic & _SKIPPABLE_MASK == _SKIPPABLE_MAGIC:
        _need(size, start + 8, path, "a skippable frame header")
        end = start + 8 + int.from_bytes(data[start + 4 : start + 8], "little")
        _need(size, end, path, "a skippable frame")
        return end
    if magic != _FRAME_MAGIC:
        raise _error(f"not zstd data at byte {start}: no frame magic number", path)
    _need(size, start + 5, path, "a frame header")
    descriptor = data[start + 4]
    single_segment = bool(descriptor & 0x20)
    fcs_flag = descriptor >> 6
    header = (
        5
        + (0 if single_segment else 1)
        + _DICT_ID_BYTES[descriptor & 0x03]
        + (1 if fcs_flag == 0 and single_segment else _FCS_BYTES[fcs_flag])
    )
    position = start + header
    while True:
        _need(size, position + 3, path, "a block header")
        block = int.from_bytes(data[position : position + 3], "little")
        block_type = (block >> 1) & 0x03
        if block_type == 3:
            raise _error(f"corrupt: reserved block type at byte {position}", path)
        position += 3 + (1 if block_type == 1 else block >> 3)  # an RLE block stores one byte
        _need(size, position, path, "a block")
        if block & 0x01:  # the frame's last block
            break
    if descriptor & 0x04:  # a content checksum follows
        position += 4
        _need(size, position, path, "the frame checksum")
    return position
