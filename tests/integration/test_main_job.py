"""The README's first command, run as written: `bash examples/main_job.sh` (fewer epochs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from bonepick.io import read_rows
from tests.conftest import REPO


def test_main_job_runs_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "main_job"
    env = {
        **os.environ,
        "BONEPICK_MAIN_OUT": str(out),
        "BONEPICK_MAIN_EPOCHS": "3",
        "BONEPICK": f"{sys.executable} -m bonepick",
    }
    result = subprocess.run(
        ["bash", "examples/main_job.sh"], cwd=REPO, env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "results compared" in result.stdout
    for kind in ("fasttext", "model2vec"):
        card = yaml.safe_load((out / "models" / kind / "bonepick_model.yaml").read_text())
        assert card["kind"] == kind
        results = yaml.safe_load(next((out / "models" / kind).glob("results_*.yaml")).read_text())
        assert "accuracy" in str(results)
        report = out / "reports" / kind / "report.html"
        assert report.is_file() and "<img" in report.read_text()
    scored = [row for path in sorted((out / "scores").rglob("*.jsonl.zst")) for row in read_rows(path)]
    assert len(scored) == 2500  # every document of assets/spamassassin, train and test
    assert all(0.0 <= row["spam_m2v"]["spam"] <= 1.0 for row in scored)
    assert list((out / "thresholds").glob("*.yaml"))
