"""A rerun resumes only into an output folder written with the same settings."""

from __future__ import annotations

from pathlib import Path

from tests.cli.helpers import digest
from tests.conftest import SPAM


def test_rerun_with_another_seed_refuses_to_mix_outputs(cli, tmp_path: Path) -> None:
    out = tmp_path / "sample"
    cli("sample-dataset", "-i", SPAM, "-o", out, "--target-rows", "100", "-s", "1", "-p", "1")
    first = digest(out)

    # Same settings: every shard is resumed and nothing changes.
    result = cli("sample-dataset", "-i", SPAM, "-o", out, "--target-rows", "100", "-s", "1", "-p", "1")
    assert digest(out) == first
    assert "already complete, skipped" in result.output

    # Another seed would give other rows: the run stops and says what differs.
    result = cli(
        "sample-dataset", "-i", SPAM, "-o", out, "--target-rows", "100", "-s", "2", "-p", "1", expect=1
    )
    assert "other settings (seed)" in result.output
    assert "--overwrite" in result.output
    assert "Traceback" not in result.output
    assert digest(out) == first

    # --overwrite redoes the shards with the new seed, the same bytes as a fresh run.
    cli("sample-dataset", "-i", SPAM, "-o", out, "--target-rows", "100", "-s", "2", "-p", "1", "--overwrite")
    cli("sample-dataset", "-i", SPAM, "-o", tmp_path / "fresh", "--target-rows", "100", "-s", "2", "-p", "1")
    assert digest(out) == digest(tmp_path / "fresh") != first


def test_transform_rerun_with_another_expression_is_refused(cli, tmp_path: Path) -> None:
    out = tmp_path / "t"
    cli("transform-dataset", "-i", SPAM, "-o", out, "-l", '{label: (.label == "spam")}', "-p", "1")
    result = cli("transform-dataset", "-i", SPAM, "-o", out, "-l", "{label: 1}", "-p", "1", expect=1)
    assert "label_expression" in result.output
