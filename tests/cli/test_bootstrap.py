"""bootstrap: rules -> LLM labels -> fastText, against the local rule-based OpenAI server.

The server labels by keywords when the text carries a ``[[classify: ...]]`` directive (see
``tests/servers/openai_server.py``); the description carries it, the rules model echoes it into
rules.md, and the label prompts carry the rules, so the "LLM" labels are a fixed keyword rule the
classifier can learn from real text.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import yaml

from bonepick.io import read_rows, write_rows
from tests.conftest import CORPORA, SPAM
from tests.servers.fixtures import TEST_API_KEY

SPAM_RULE = "[[classify: spam=click|remove|removed|unsubscribe; ham=*]]"
DESCRIPTION = f"spam is unsolicited bulk email selling something; ham is everything else. {SPAM_RULE}"


def _args(raw: Path, out: Path, server, cache: Path, *extra: str) -> list[str]:
    return [
        "bootstrap",
        "-i",
        str(raw),
        "-o",
        str(out),
        "--classes",
        "ham,spam",
        "--description",
        DESCRIPTION,
        "--base-url",
        server.base_url,
        "-c",
        str(cache),
        "--trainer",
        "fasttext",
        "--test-size",
        "150",
        "--initial-size",
        "100",
        "--increment",
        "150",
        *extra,
    ]


def _no_key_written(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file() and path.suffix in (".md", ".yaml", ".json", ".csv"):
            assert TEST_API_KEY not in path.read_text(errors="ignore"), path


def test_bootstrap_reaches_target_and_resumes(cli, openai_server, openai_key, tmp_path):
    out, cache = tmp_path / "boot", tmp_path / "cache"
    args = _args(
        SPAM, out, openai_server, cache, "--required-accuracy", "0.8", "--max-iters", "4", "--balance"
    )
    result = cli(*args, "--predict-rest", expect=0)
    assert "target reached" in result.output

    rules = (out / "rules.md").read_text()
    assert "[[classify:" in rules
    progress = yaml.safe_load((out / "progress.yaml").read_text())["iterations"]
    assert 1 <= len(progress) <= 4
    assert progress[-1]["accuracy"] >= 0.8
    assert (
        progress[-1]["ci_low"] < progress[-1]["accuracy"] < progress[-1]["ci_high"]
        or progress[-1]["accuracy"] == 1
    )
    assert [r["train_size"] for r in progress] == sorted(r["train_size"] for r in progress)
    with open(out / "progress.csv") as handle:
        assert len(list(csv.DictReader(handle))) == len(progress)
    test_rows = list(read_rows(out / "test" / "test" / "part_00.jsonl.zst"))
    assert len(test_rows) == 150 and {r["label"] for r in test_rows} == {"ham", "spam"}
    for i in range(1, len(progress) + 1):
        assert (out / f"iter_{i:02d}" / "model" / "bonepick_model.yaml").is_file()
    # the final model works with infer, and --predict-rest scored every raw document
    scored = [r for p in sorted((out / "predictions").rglob("*.jsonl.zst")) for r in read_rows(p)]
    assert len(scored) == 800
    infer_out = tmp_path / "scores"
    cli("infer", "-i", str(SPAM), "-o", str(infer_out), "-m", str(out / "final"), "-p", "1", expect=0)
    _no_key_written(out)

    # interrupted during the last iteration (model and metrics lost): the rerun asks nothing again
    sent = openai_server.stats()["chat_requests"]
    assert sent > 0
    last = out / f"iter_{len(progress):02d}"
    shutil.rmtree(last / "model")
    (last / "metrics.json").unlink()
    openai_server.reset()
    again = cli(*args, expect=0)
    assert openai_server.stats()["chat_requests"] == 0
    assert "resumed" in again.output
    assert yaml.safe_load((out / "progress.yaml").read_text())["iterations"] == progress


def test_bootstrap_stops_at_max_iters(cli, openai_server, openai_key, tmp_path):
    out = tmp_path / "boot"
    args = _args(
        SPAM, out, openai_server, tmp_path / "cache", "--required-accuracy", "1.0", "--max-iters", "2"
    )
    result = cli(*args, expect=0)
    assert "target not reached" in result.output
    assert "--max-iters 2" in result.output
    progress = yaml.safe_load((out / "progress.yaml").read_text())["iterations"]
    assert [r["iteration"] for r in progress] == [1, 2]
    assert [r["train_size"] for r in progress] == [100, 250]
    assert (out / "final" / "bonepick_model.yaml").is_file()
    # more iterations later: only the new increment is labelled
    openai_server.reset()
    cli(*args[:-1], "3", expect=0)
    assert openai_server.stats()["chat_requests"] == 150


def test_bootstrap_multiclass_with_edited_rules(cli, openai_server, openai_key, tmp_path):
    raw = tmp_path / "raw" / "train"
    rows = []
    for corpus, count in (("spamassassin", 120), ("fortunes", 120), ("python_docs", 120)):
        shards = sorted((CORPORA / corpus / "train").glob("*.jsonl*"))
        source = [r for r in read_rows(shards[0])][:count]
        rows += [{"id": f"{corpus}-{i}", "text": r["text"]} for i, r in enumerate(source)]
    write_rows(raw / "part_00.jsonl.zst", rows)
    rules = tmp_path / "my_rules.md"
    rules.write_text(
        "Code documentation mentions Python; email has subject lines; everything else is a fortune.\n"
        "[[classify: docs=python|function|module|class|return|object|method; "
        "email=email|subject|list|mailing|http|www|com; fortune=*]]\n"
    )
    out = tmp_path / "boot"
    cli(
        "bootstrap", "-i", str(tmp_path / "raw"), "-o", str(out), "--classes", "docs,email,fortune",
        "--rules", str(rules), "--base-url", openai_server.base_url, "-c", str(tmp_path / "cache"),
        "--test-size", "90", "--initial-size", "90", "--increment", "90", "--required-accuracy", "0.8",
        "--max-iters", "3", "--balance", expect=0,
    )  # fmt: skip
    assert (out / "rules.md").read_text() == rules.read_text()
    progress = yaml.safe_load((out / "progress.yaml").read_text())["iterations"]
    assert set(k for k in progress[-1] if k.startswith("f1_")) == {"f1_docs", "f1_email", "f1_fortune"}
    labels = {r["label"] for r in read_rows(out / "test" / "test" / "part_00.jsonl.zst")}
    assert labels == {"docs", "email", "fortune"}
    assert progress[-1]["accuracy"] >= 0.8


def test_bootstrap_config_file_and_bad_input(cli, openai_server, openai_key, tmp_path):
    config = tmp_path / "boot.yaml"
    config.write_text(yaml.safe_dump({"classes": "ham", "description": "x", "trainer": "fasttext"}))
    result = cli("bootstrap", "-i", str(SPAM), "-o", str(tmp_path / "o"), "--config", str(config), expect=1)
    assert "at least two class names" in result.output
    config.write_text(yaml.safe_dump({"clases": "a,b"}))
    result = cli("bootstrap", "-i", str(SPAM), "-o", str(tmp_path / "o"), "--config", str(config), expect=1)
    assert "unknown keys" in result.output
