"""annotate-dataset against a real local HTTP server speaking the chat-completions API."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from bonepick.io import find_shards, read_rows, write_rows
from tests.servers.fixtures import write_annotation_dataset

FAIL = "BONEPICK-FAIL"
ASK_AGAIN_ONCE = ("--reprocess-all-rows", "--max-retries", "0")  # every row asked again, no retries


def _shards(root: Path) -> list[Path]:
    return find_shards(root) if root.is_dir() else []


def _rows(root: Path) -> list[dict]:
    return [row for shard in _shards(root) for row in read_rows(shard)]


def _annotate(cli, server, data: Path, out: Path, *extra, prompt: str = "fineweb_edu", expect: int = 0):
    return cli(
        "annotate-dataset",
        "-d",
        data,
        "-o",
        out,
        "-m",
        "test-model",
        "-T",
        prompt,
        "--base-url",
        server.base_url,
        "-c",
        out.parent / "cache",
        "--retry-delay",
        "0.01",
        *extra,
        expect=expect,
    )


def _provenance(out: Path) -> dict:
    return yaml.safe_load((out / "bonepick.yaml").read_text())


def test_every_row_annotated_or_recorded_failed_then_retried(cli, openai_server, openai_key, tmp_path):
    data = tmp_path / "data"
    rows = write_annotation_dataset(data, extra={5: {"text": f"An unlucky document. {FAIL}"}})
    # one request at a time, so each fault hits a known request; the marked row always gets a 500
    script = [
        "timeout",
        "ok",
        "429",
        "ok",
        "500",
        "ok",
        "malformed",
        "ok",
        "invalid",
        "ok",
        "bad_body",
        "invalid",
    ]
    openai_server.configure(latency=0.002, script=script, hang_seconds=3)
    out = tmp_path / "out"
    result = _annotate(
        cli,
        openai_server,
        data,
        out,
        "--max-retries",
        "3",
        "--request-timeout",
        "0.5",
        "--max-concurrent-requests",
        "1",
    )
    written = _rows(out)
    by_id = {r["id"]: r for r in rows}
    assert sorted(r["id"] for r in written) == sorted(by_id)  # nothing dropped
    failed = [r for r in written if r["fineweb_edu"] is None]
    assert [r["id"] for r in failed] == [rows[5]["id"]]
    assert failed[0]["fineweb_edu_error"]["kind"] == "server"
    assert failed[0]["fineweb_edu_error"]["attempts"] == 4
    for row in written:
        assert {k: v for k, v in row.items() if not k.startswith("fineweb_edu")} == by_id[
            row["id"]
        ]  # untouched
        if row["fineweb_edu"] is not None:
            assert set(row["fineweb_edu"]) == {"reason", "score"}
            assert 0 <= row["fineweb_edu"]["score"] <= 5
            assert "fineweb_edu_error" not in row
    annotation = _provenance(out)["annotation"]
    assert annotation["rows"] == {"annotated": len(rows) - 1, "cached": 0, "passthrough": 0, "failed": 1}
    assert annotation["errors"] == {
        "timeout": 1,
        "rate_limit": 1,
        "server": 5,
        "invalid_reply": 3,
        "bad_response": 1,
    }
    assert annotation["usage"]["requests"] == openai_server.stats()["chat_requests"] == len(rows) + 3 + 7
    assert "1 row(s) could not be annotated" in result.output

    # the server recovers: the rerun redoes only the shard holding the failed row, and sends only
    # that row's request (everything else comes from the cache)
    openai_server.configure(fail_marker="")
    openai_server.reset()
    result = _annotate(cli, openai_server, data, out)
    assert openai_server.stats()["chat_requests"] == 1
    assert "2 already complete" in result.output
    again = _rows(out)
    assert all(r["fineweb_edu"] is not None and "fineweb_edu_error" not in r for r in again)
    assert [r for r in again if r["id"] != rows[5]["id"]] == [r for r in written if r["id"] != rows[5]["id"]]


def test_random_faults_under_concurrency_lose_nothing(cli, openai_server, openai_key, tmp_path):
    data = tmp_path / "data"
    rows = write_annotation_dataset(data, rows_per_shard=(20, 20), test_rows=10)
    openai_server.configure(
        latency=0.002,
        rate_429=0.06,
        rate_500=0.06,
        rate_malformed=0.06,
        rate_invalid=0.06,
        rate_bad_body=0.06,
        seed=7,
    )
    out = tmp_path / "out"
    _annotate(cli, openai_server, data, out, "--max-retries", "12", "--max-concurrent-requests", "8")
    written = _rows(out)
    assert sorted(r["id"] for r in written) == sorted(r["id"] for r in rows)
    assert all(0 <= r["fineweb_edu"]["score"] <= 5 for r in written)
    stats = openai_server.stats()
    assert stats["outcomes"]["ok"] == len(rows) and stats["chat_requests"] > len(rows)
    assert stats["max_in_flight"] <= 8


def test_rerun_after_crash_sends_nothing_for_cached_rows(cli, openai_server, openai_key, tmp_path):
    data = tmp_path / "data"
    rows = write_annotation_dataset(data, rows_per_shard=(40,), test_rows=0)
    openai_server.configure(latency=0.05)
    out, cache = tmp_path / "out", tmp_path / "cache"
    command = [
        sys.executable, "-m", "bonepick", "annotate-dataset", "-d", str(data), "-o", str(out),
        "-m", "test-model", "-T", "fineweb_edu", "--base-url", openai_server.base_url, "-c", str(cache),
        "--max-concurrent-requests", "2",
    ]  # fmt: skip
    env = {**os.environ, "BONEPICK_NO_PROGRESS": "1"}
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    database = cache / "annotations.sqlite"
    deadline = time.time() + 60
    cached = 0
    while time.time() < deadline and cached < 8:
        time.sleep(0.02)
        if database.exists():
            try:
                with sqlite3.connect(database) as connection:
                    cached = connection.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
            except sqlite3.OperationalError:
                pass
    os.killpg(process.pid, signal.SIGKILL)
    _, stderr = process.communicate()
    assert cached >= 8, stderr.decode()
    with sqlite3.connect(database) as connection:
        cached = connection.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
    assert 8 <= cached < len(rows)
    assert not _shards(out)  # the interrupted shard was never published

    openai_server.configure(latency=0.0)
    openai_server.reset()
    _annotate(cli, openai_server, data, out)
    assert openai_server.stats()["chat_requests"] == len(rows) - cached
    assert _provenance(out)["annotation"]["rows"]["cached"] == cached
    assert len(_rows(out)) == len(rows)


def test_request_rate_limit_holds(cli, openai_server, openai_key, tmp_path):
    data = tmp_path / "data"
    write_annotation_dataset(data, rows_per_shard=(24,), test_rows=0)
    _annotate(cli, openai_server, data, tmp_path / "out", "--max-requests-per-minute", "600")
    times = sorted(r["time"] for r in openai_server.requests())
    assert len(times) == 24
    rate, burst = 10.0, 10  # 600/min, at most one second of budget at once
    for i, t in enumerate(times):
        assert t - times[0] >= (i - burst) / rate - 0.05, (i, t - times[0])
    assert 1.3 <= times[-1] - times[0] <= 4.0


def test_token_rate_limit_and_concurrency_cap_hold(cli, openai_server, openai_key, tmp_path):
    data = tmp_path / "data"
    write_annotation_dataset(data, rows_per_shard=(12,), test_rows=0)
    per_minute = 240_000  # 4,000 tokens per second, one second of burst
    _annotate(
        cli,
        openai_server,
        data,
        tmp_path / "out",
        "--max-tokens-per-minute",
        str(per_minute),
        "--max-new-tokens",
        "8",
    )
    records = sorted(openai_server.requests(), key=lambda r: r["time"])
    sizes = [sum(len(m["content"]) for m in r["body"]["messages"]) / 4 + 8 for r in records]
    rate = per_minute / 60
    for i, record in enumerate(records):
        spent = sum(sizes[:i])  # tokens admitted before this request
        assert spent <= rate + rate * (record["time"] - records[0]["time"]) + max(sizes) + 50, i

    openai_server.reset()
    openai_server.configure(latency=0.05)
    _annotate(
        cli, openai_server, data, tmp_path / "out2", "--max-concurrent-requests", "3", "-c", tmp_path / "c2"
    )
    assert openai_server.stats()["max_in_flight"] == 3


def test_api_key_from_env_never_written(cli, openai_server, openai_key, tmp_path, monkeypatch):
    data = tmp_path / "data"
    write_annotation_dataset(data, rows_per_shard=(6,), test_rows=2, extra={1: {"text": f"x {FAIL}"}})
    out = tmp_path / "out"
    result = _annotate(cli, openai_server, data, out, "--max-retries", "1")
    assert {r["authorization"] for r in openai_server.requests()} == {f"Bearer {openai_key}"}
    everything = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "annotations.sqlite" for p in everything)
    for path in everything:
        assert openai_key.encode() not in path.read_bytes(), path
    assert openai_key not in result.output

    # another variable, named on the command line
    monkeypatch.setenv("MY_LLM_KEY", "sk-other-secret-9911")
    openai_server.configure(require_key="sk-other-secret-9911")
    out2 = tmp_path / "out2"
    _annotate(cli, openai_server, data, out2, "--api-key-env", "MY_LLM_KEY", *ASK_AGAIN_ONCE)
    record = _provenance(out2)
    assert record["arguments"]["api_key_env"] == "MY_LLM_KEY"
    assert "sk-other-secret-9911" not in (out2 / "bonepick.yaml").read_text()

    # a wrong key stops the run with one clear message
    result = _annotate(cli, openai_server, data, tmp_path / "out3", "--reprocess-all-rows", expect=1)
    assert "the server rejected the API key (401)" in result.output
    assert "Traceback" not in result.output and openai_key not in result.output

    # no key at all for OpenAI itself: say how to fix it
    monkeypatch.delenv("OPENAI_API_KEY")
    result = cli(
        "annotate-dataset",
        "-d",
        data,
        "-o",
        tmp_path / "o4",
        "-m",
        "gpt-4.1-mini",
        "-T",
        "fineweb_edu",
        expect=1,
    )
    assert "no API key" in result.output and "--api-key-env" in result.output
    result = _annotate(
        cli, openai_server, data, tmp_path / "o5", "--api-key-env", "NOT_SET_ANYWHERE", expect=1
    )
    assert "NOT_SET_ANYWHERE" in result.output


def test_structured_output_validated_and_bad_replies_retried(cli, openai_server, openai_key, tmp_path):
    data = tmp_path / "data"
    rows = write_annotation_dataset(data, rows_per_shard=(10,), test_rows=0)
    openai_server.configure(script=["malformed", "invalid", "invalid", "bad_body"])
    out = tmp_path / "out"
    _annotate(cli, openai_server, data, out, "--max-concurrent-requests", "1")
    assert all(0 <= r["fineweb_edu"]["score"] <= 5 for r in _rows(out))
    errors = _provenance(out)["annotation"]["errors"]
    assert errors == {"invalid_reply": 3, "bad_response": 1}
    assert openai_server.stats()["chat_requests"] == len(rows) + 4
    first = openai_server.requests()[0]["body"]
    assert first["response_format"]["type"] == "json_schema"
    assert first["response_format"]["json_schema"]["strict"] is True

    # no retries left: the row is kept with the reason
    openai_server.configure(script=["invalid"])
    out2 = tmp_path / "out2"
    _annotate(cli, openai_server, data, out2, *ASK_AGAIN_ONCE, "--max-concurrent-requests", "1")
    failed = [r for r in _rows(out2) if r["fineweb_edu"] is None]
    assert len(failed) == 1
    assert failed[0]["fineweb_edu_error"]["kind"] == "invalid_reply"
    assert "does not match the schema" in failed[0]["fineweb_edu_error"]["message"]


def test_server_without_json_schema_gets_plain_instructions(cli, openai_server, openai_key, tmp_path):
    data = tmp_path / "data"
    rows = write_annotation_dataset(data, rows_per_shard=(6,), test_rows=0)
    openai_server.configure(reject_json_schema=True)
    out = tmp_path / "out"
    _annotate(cli, openai_server, data, out, "--max-concurrent-requests", "1")
    assert all(r["fineweb_edu"] is not None for r in _rows(out))
    records = openai_server.requests()
    assert records[0]["response_format"] == "json_schema" and records[0]["outcome"] == "rejected"
    assert all(r["response_format"] is None for r in records[1:])
    assert all(
        "Respond with only a JSON object that matches this JSON Schema" in r["text"] for r in records[1:]
    )
    assert len(records) == len(rows) + 1


def _scored_dataset(root: Path, texts: list[str]) -> None:
    write_rows(root / "train" / "part_00.jsonl", [{"id": i, "text": t} for i, t in enumerate(texts)])


def test_samples_are_kept_and_aggregated(cli, openai_server, openai_key, tmp_path):
    data = tmp_path / "data"
    _scored_dataset(
        data, ["First document [[scores=1,3,3]]", "Second one [[scores=2,4]]", "Third [[scores=5]]"]
    )
    out = tmp_path / "out"
    _annotate(cli, openai_server, data, out, "--samples", "3", "--temperature", "1.0")
    first, second, third = (r["fineweb_edu"] for r in _rows(out))
    assert first["score"] == 3 and sorted(s["score"] for s in first["samples"]) == [1, 3, 3]
    assert second["score"] == 2 and sorted(s["score"] for s in second["samples"]) == [2, 2, 4]
    assert third["score"] == 5 and len(third["samples"]) == 3
    assert openai_server.stats()["chat_requests"] == 9
    assert {r["temperature"] for r in openai_server.requests()} == {1.0}

    # other aggregations reuse the cached samples: no new request
    _annotate(
        cli,
        openai_server,
        data,
        tmp_path / "mean",
        "--samples",
        "3",
        "--temperature",
        "1.0",
        "--aggregate",
        "mean",
    )
    assert openai_server.stats()["chat_requests"] == 9
    assert _rows(tmp_path / "mean")[0]["fineweb_edu"]["score"] == pytest.approx(7 / 3, abs=1e-5)

    _scored_dataset(data, ["A tie [[scores=2,4]]"])
    _annotate(cli, openai_server, data, tmp_path / "tie", "--samples", "2", "--temperature", "1.0")
    assert _rows(tmp_path / "tie")[0]["fineweb_edu"]["score"] == 3  # majority tie -> mean


def test_long_documents_cut_or_chunked(cli, openai_server, openai_key, tmp_path):
    long_text = "\n\n".join(
        f"Paragraph {i} explains one more step of the method in plain words [[score={i % 4}]]." * 3
        for i in range(30)
    )
    data = tmp_path / "data"
    _scored_dataset(data, [long_text, "A short note."])
    out = tmp_path / "chunks"
    _annotate(
        cli,
        openai_server,
        data,
        out,
        "--max-text-length",
        "1500",
        "--chunking",
        "chunks",
        "--num-chunks",
        "3",
    )
    long_row, short_row = _rows(out)
    chunks = long_row["fineweb_edu"]["chunks"]
    assert len(chunks) == 3
    assert long_row["fineweb_edu"]["score"] == pytest.approx(sum(c["score"] for c in chunks) / 3, abs=1e-5)
    assert "chunks" not in short_row["fineweb_edu"]
    texts = [r["text"] for r in openai_server.requests()]
    assert sum("[excerpt 2 of 3 from a document" in t for t in texts) == 1
    assert all(len(t) < 1500 + 4000 for t in texts)  # the template plus at most one chunk

    openai_server.reset()
    _annotate(cli, openai_server, data, tmp_path / "head", "--max-text-length", "1500")
    texts = [r["text"] for r in openai_server.requests()]
    assert sum("document truncated: the first" in t and "was cut to fit" in t for t in texts) == 1
    openai_server.reset()
    _annotate(
        cli, openai_server, data, tmp_path / "ht", "--max-text-length", "1500", "--chunking", "head-tail"
    )
    assert sum("characters omitted" in r["text"] for r in openai_server.requests()) == 1
    result = _annotate(
        cli, openai_server, data, tmp_path / "x", "--chunking", "none", "--max-text-length", "10", expect=1
    )
    assert "--chunking none" in result.output


def test_multi_field_and_conversation_inputs(cli, openai_server, openai_key, tmp_path):
    data = tmp_path / "pairs"
    write_rows(
        data / "train" / "a.jsonl",
        [
            {"q": "Name three primes above 20.", "a": "23, 29 and 31."},
            {"q": "Translate 'cat' to French.", "a": "Chat."},
        ],
    )
    out = tmp_path / "out"
    _annotate(
        cli,
        openai_server,
        data,
        out,
        "-i",
        "instruction=.q",
        "-i",
        "output=.a",
        prompt="lens_instruction_following",
    )
    rows = _rows(out)
    assert set(rows[0]["lens_instruction_following"]) == {
        "rationale",
        "relevance",
        "correctness",
        "completeness",
        "overall",
    }
    text = openai_server.requests()[0]["text"]
    assert "<instruction>" in text and ("23, 29 and 31." in text or "Chat." in text)
    result = _annotate(
        cli, openai_server, data, tmp_path / "o2", "-i", ".q", prompt="lens_instruction_following", expect=1
    )
    assert "takes several inputs" in result.output

    chats = tmp_path / "chats"
    write_rows(
        chats / "train" / "a.jsonl",
        [{"messages": [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4"}]}],
    )
    openai_server.reset()
    _annotate(cli, openai_server, chats, tmp_path / "o3", prompt="sft_filter")
    row = _rows(tmp_path / "o3")[0]
    assert set(row["sft_filter"]) == {"reason", "refusal", "unsafe", "score", "keep"}
    assert "[user]\nWhat is 2+2?\n\n[assistant]\n4" in openai_server.requests()[0]["text"]
    bad = tmp_path / "bad"
    write_rows(bad / "train" / "a.jsonl", [{"messages": "oops", "text": 3}, {"text": None}])
    result = _annotate(cli, openai_server, bad, tmp_path / "o4", expect=1)
    assert "a.jsonl:2" in result.output and "gave null" in result.output


def test_limit_rows_then_full_run_reuses_the_cache(cli, openai_server, openai_key, tmp_path):
    data = tmp_path / "data"
    rows = write_annotation_dataset(data, rows_per_shard=(12, 12), test_rows=8)
    out = tmp_path / "out"
    result = _annotate(cli, openai_server, data, out, "--limit-rows", "10")
    assert openai_server.stats()["chat_requests"] == 10
    assert len(_rows(out)) == 10
    assert "2 shard(s) after the limit were not processed" in result.output  # train/part_00 comes first
    assert _provenance(out)["summary"]["rows_skipped"] == {"beyond --limit-rows": 2}
    openai_server.reset()
    result = _annotate(cli, openai_server, data, out)
    assert openai_server.stats()["chat_requests"] == len(rows) - 10
    assert len(_rows(out)) == len(rows)
    assert "1 complete shard(s) redone" in result.output  # made with the limit

    # annotated rows given back as input are kept as they are, unless asked to redo them
    openai_server.reset()
    _annotate(cli, openai_server, out, tmp_path / "again")
    assert openai_server.stats()["chat_requests"] == 0
    assert _provenance(tmp_path / "again")["annotation"]["rows"]["passthrough"] == len(rows)
    _annotate(cli, openai_server, out, tmp_path / "redo", "--reprocess-all-rows")
    assert openai_server.stats()["chat_requests"] == len(rows)


def test_parallel_output_equals_serial(cli, openai_server, openai_key, tmp_path):
    data = tmp_path / "data"
    write_annotation_dataset(data, rows_per_shard=(10, 10), test_rows=6)
    _annotate(cli, openai_server, data, tmp_path / "serial", "-p", "1", "-c", tmp_path / "c1")
    _annotate(cli, openai_server, data, tmp_path / "parallel", "-p", "2", "-c", tmp_path / "c2")
    serial = {p.relative_to(tmp_path / "serial"): p.read_bytes() for p in _shards(tmp_path / "serial")}
    parallel = {p.relative_to(tmp_path / "parallel"): p.read_bytes() for p in _shards(tmp_path / "parallel")}
    assert serial == parallel and len(serial) == 3
    assert openai_server.stats()["chat_requests"] == 52
