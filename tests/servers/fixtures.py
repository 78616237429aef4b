"""Pytest fixtures for the local OpenAI-compatible server (see ``openai_server.py`` for the API).

Registered in ``tests/conftest.py``, so any test can ask for them::

    def test_annotate(openai_server, openai_key, cli, tmp_path):
        openai_server.configure(latency=0.01, rate_429=0.1)
        cli("annotate-dataset", ..., "--base-url", openai_server.base_url)
        assert openai_server.stats()["chat_requests"] == 40
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers.openai_server import OpenAIServer

#: the key ``openai_key`` puts in the environment; tests grep outputs for it
TEST_API_KEY = "sk-bonepick-test-4f0c2a9e7d1b"


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    """A fresh server on 127.0.0.1 (free port, background thread), no faults, no latency."""
    with OpenAIServer() as server:
        yield server


@pytest.fixture
def openai_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """Sets ``OPENAI_API_KEY`` to :data:`TEST_API_KEY` for the test."""
    monkeypatch.setenv("OPENAI_API_KEY", TEST_API_KEY)
    return TEST_API_KEY


def write_annotation_dataset(root, rows_per_shard=(12, 12), test_rows=8, extra=None):
    """A small dataset of real SpamAssassin texts for annotation tests: ``train/`` with one shard
    per entry of ``rows_per_shard`` and ``test/`` with ``test_rows`` rows. ``extra`` maps a global
    row index to fields merged into that row (e.g. ``{3: {"text": "... BONEPICK-FAIL"}}``).
    Returns the rows in output order (test first, then train shards), as written."""
    from pathlib import Path

    from bonepick.io import read_rows, write_rows
    from tests.conftest import SPAM

    source = list(read_rows(SPAM / "test" / "part_00.jsonl.zst"))
    root = Path(root)
    sizes = [("test/part_00.jsonl", test_rows)] + [
        (f"train/part_{i:02d}.jsonl", n) for i, n in enumerate(rows_per_shard)
    ]
    written, start = [], 0
    for name, count in sizes:
        if count == 0:
            continue
        rows = []
        for index in range(start, start + count):
            row = {"id": source[index]["id"], "text": source[index]["text"], "label": source[index]["label"]}
            row.update((extra or {}).get(index, {}))
            rows.append(row)
        write_rows(root / name, rows)
        written.extend(rows)
        start += count
    return written
