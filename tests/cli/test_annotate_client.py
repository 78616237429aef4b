"""The fast paths of the annotation client: one body template per run, one request per distinct
text even inside one shard, the event loop choice, and the live counter file."""

from __future__ import annotations

import importlib.util

import orjson
import pytest

from bonepick.annotate import eventloop
from bonepick.annotate.client import BodyTemplate, RequestParams
from bonepick.annotate.prompts import PromptLibrary
from bonepick.errors import MissingDependencyError, UsageError
from bonepick.io import find_shards, read_rows, write_rows

PARAMS = RequestParams("m", temperature=0.2, max_new_tokens=32)


def _schema() -> dict:
    return PromptLibrary(use_env=False).get("fineweb_edu").schema


@pytest.mark.parametrize("fmt", ["json_schema", "json_object", "none"])
def test_template_bodies_equal_fresh_ones_and_leave_inputs_alone(fmt):
    from bonepick.annotate.client import request_body

    schema = _schema()
    template = BodyTemplate(
        PARAMS, schema=schema, schema_name="fineweb_edu", response_format=fmt, openai_host=False
    )
    before = orjson.dumps(template.rest)
    for text in ("first document", "second document, longer", "third"):
        messages = [{"role": "system", "content": "sys"}, {"role": "user", "content": text}]
        kept = orjson.dumps(messages)
        body = template.body(messages)
        fresh = request_body(
            PARAMS, messages, schema=schema, schema_name="fineweb_edu", response_format=fmt, openai_host=False
        )
        # same bytes on the wire, key order included
        assert orjson.dumps(body) == orjson.dumps(fresh)
        assert list(body)[:2] == ["model", "messages"]
        assert orjson.dumps(messages) == kept  # the caller's messages are not changed
        spelled_out = fmt != "json_schema"
        assert body["messages"][-1]["content"].startswith(text)
        assert ("Respond with only a JSON object" in body["messages"][-1]["content"]) is spelled_out
    assert orjson.dumps(template.rest) == before  # nothing shared was mutated by building bodies


def test_event_loop_choice(monkeypatch):
    async def answer() -> int:
        return 42

    monkeypatch.setenv(eventloop.ENV, "asyncio")
    assert eventloop.loop_factory() is None and eventloop.loop_name() == "asyncio"
    assert eventloop.run(answer()) == 42
    monkeypatch.setenv(eventloop.ENV, "tokio")
    with pytest.raises(UsageError, match="BONEPICK_EVENT_LOOP"):
        eventloop.run(answer())  # the coroutine is closed, not leaked
    monkeypatch.setenv(eventloop.ENV, "uvloop")
    if importlib.util.find_spec("uvloop") is None:
        with pytest.raises(MissingDependencyError, match="uvloop"):
            eventloop.loop_factory()
    else:
        assert eventloop.run(answer()) == 42 and eventloop.loop_name() == "uvloop"


def test_duplicate_texts_in_one_shard_cost_one_request(cli, openai_server, openai_key, tmp_path):
    """Rows with the same text share one in-flight request (the one-task-per-row fast path)."""
    from tests.conftest import SPAM

    source = [row["text"] for row in read_rows(SPAM / "test" / "part_00.jsonl.zst")][:6]
    rows = [{"id": i, "text": source[i % 3]} for i in range(12)]  # 3 distinct texts, 4 rows each
    write_rows(tmp_path / "data" / "part_00.jsonl", rows)
    openai_server.configure(latency=0.05)
    out = tmp_path / "out"
    cli(
        "annotate-dataset", "-d", tmp_path / "data", "-o", out, "-m", "test-model", "-T", "fineweb_edu",
        "--base-url", openai_server.base_url, "-c", tmp_path / "cache", "--max-concurrent-requests", "8",
        "-p", "1",
    )  # fmt: skip
    assert openai_server.stats()["chat_requests"] == 3
    written = [row for shard in find_shards(out) for row in read_rows(shard)]
    assert [row["id"] for row in written] == list(range(12))  # input order kept
    scores = {}
    for row in written:
        assert row["fineweb_edu"] is not None and "fineweb_edu_error" not in row
        scores.setdefault(row["text"], set()).add(orjson.dumps(row["fineweb_edu"]))
    assert all(len(found) == 1 for found in scores.values())  # one answer per distinct text
