"""The reference every data benchmark compares with: zstd stream decode + orjson parse of every
line, in this process, with no bonepick code in the loop."""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

import orjson
import zstandard


def decode_and_parse(paths: Iterable[Path]) -> None:
    loads = orjson.loads
    for path in paths:
        with open(path, "rb") as fh:
            for line in io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(fh), 1 << 20):
                loads(line)
