"""annotate-batch submit / retrieve against the local server's Files and Batch endpoints."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from bonepick.io import find_shards, read_rows
from tests.servers.fixtures import write_annotation_dataset

FAIL = "BONEPICK-FAIL"


def _rows(root: Path) -> list[dict]:
    return [row for shard in find_shards(root) for row in read_rows(shard)]


def _common(server, cache: Path) -> list:
    return ["-m", "test-model", "-T", "fineweb_edu", "--base-url", server.base_url, "-c", cache]


def test_batch_round_trip_matches_live_annotation(cli, openai_server, openai_key, tmp_path):
    data = tmp_path / "data"
    rows = write_annotation_dataset(
        data,
        rows_per_shard=(9, 9),
        test_rows=4,
        extra={2: {"text": f"x {FAIL}"}, 3: {"text": "same text"}, 4: {"text": "same text"}},
    )
    openai_server.configure(batch_polls=2)
    batch = tmp_path / "batch"
    result = cli(
        "annotate-batch",
        "submit",
        "-d",
        data,
        "-b",
        batch,
        "--batch-size",
        "8",
        *_common(openai_server, tmp_path / "c"),
    )
    manifest = json.loads((batch / "manifest.json").read_text())
    assert [p["requests"] for p in manifest["parts"]] == [8, 8, 5]  # 22 rows, two identical texts
    assert all(p["batch_id"] for p in manifest["parts"])
    assert manifest["counts"]["requests_duplicate"] == 1
    assert "requests submitted" in result.output
    assert openai_server.stats()["chat_requests"] == 0  # nothing went through the live endpoint

    out = tmp_path / "out"
    result = cli("annotate-batch", "retrieve", "-b", batch, "-o", out)
    assert "not every batch has finished" in result.output and not out.exists()
    result = cli("annotate-batch", "retrieve", "-b", batch, "-o", out, "--wait", "--poll-interval", "0.01")
    assert "valid answers stored in the cache" in result.output
    batched = _rows(out)
    assert [r["id"] for r in batched] == [r["id"] for r in _rows(data)]
    failed = [r for r in batched if r["fineweb_edu"] is None]
    assert [r["id"] for r in failed] == [rows[2]["id"]]
    assert failed[0]["fineweb_edu_error"]["kind"] == "batch"
    assert "HTTP 500" in failed[0]["fineweb_edu_error"]["message"]
    record = yaml.safe_load((out / "bonepick.yaml").read_text())
    assert record["command"] == "annotate-batch retrieve"
    assert record["annotation"]["rows"]["failed"] == 1
    for path in [*batch.rglob("*"), *out.rglob("*")]:
        if path.is_file():
            assert openai_key.encode() not in path.read_bytes(), path

    # the same rows annotated live (fresh cache) give the same annotations
    live = tmp_path / "live"
    cli(
        "annotate-dataset",
        "-d",
        data,
        "-o",
        live,
        *_common(openai_server, tmp_path / "c2"),
        "--max-retries",
        "0",
    )
    live_rows = _rows(live)
    assert [r["fineweb_edu"] for r in live_rows if r["id"] != rows[2]["id"]] == [
        r["fineweb_edu"] for r in batched if r["id"] != rows[2]["id"]
    ]

    # once the server recovers, a new submit sends only what is missing
    openai_server.configure(fail_marker="")
    again = tmp_path / "batch2"
    cli("annotate-batch", "submit", "-d", data, "-b", again, *_common(openai_server, tmp_path / "c"))
    manifest = json.loads((again / "manifest.json").read_text())
    assert [p["requests"] for p in manifest["parts"]] == [1]
    cli(
        "annotate-batch",
        "retrieve",
        "-b",
        again,
        "-o",
        tmp_path / "out2",
        "--wait",
        "--poll-interval",
        "0.01",
    )
    assert all(r["fineweb_edu"] is not None for r in _rows(tmp_path / "out2"))

    # a folder holds one job
    result = cli(
        "annotate-batch", "submit", "-d", data, "-b", again, *_common(openai_server, tmp_path / "c"), expect=1
    )
    assert "already holds a submitted batch" in result.output


def test_batch_dry_run_and_nothing_to_submit(cli, openai_server, openai_key, tmp_path):
    data = tmp_path / "data"
    write_annotation_dataset(data, rows_per_shard=(5,), test_rows=0)
    dry = tmp_path / "dry"
    cli(
        "annotate-batch",
        "submit",
        "-d",
        data,
        "-b",
        dry,
        "--dry-run",
        *_common(openai_server, tmp_path / "c"),
    )
    lines = (dry / "requests_00000.jsonl").read_text().splitlines()
    request = json.loads(lines[0])
    assert len(lines) == 5 and request["url"] == "/v1/chat/completions"
    assert request["body"]["response_format"]["type"] == "json_schema"
    assert request["body"]["messages"][0]["role"] == "system"
    assert openai_server.stats()["requests"] == 0
    result = cli("annotate-batch", "retrieve", "-b", dry, "-o", tmp_path / "o", expect=1)
    assert "--dry-run" in result.output

    cli("annotate-dataset", "-d", data, "-o", tmp_path / "live", *_common(openai_server, tmp_path / "c"))
    result = cli(
        "annotate-batch", "submit", "-d", data, "-b", tmp_path / "b", *_common(openai_server, tmp_path / "c")
    )
    assert "nothing to submit" in result.output
    result = cli("annotate-batch", "retrieve", "-b", tmp_path / "b", "-o", tmp_path / "o2")
    assert len(_rows(tmp_path / "o2")) == 5
    assert _rows(tmp_path / "o2") == _rows(tmp_path / "live")
