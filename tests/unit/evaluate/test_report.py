"""The report: real PNG images of the documented size, and one HTML file that embeds every plot
next to the metrics table."""

from __future__ import annotations

import base64
from html.parser import HTMLParser
from pathlib import Path

import yaml
from matplotlib import image as mpimg

from bonepick.evaluate.evaluate import evaluate_model
from bonepick.evaluate.report import PIXELS, write_report
from tests.conftest import BROWN, SPAM


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str]] = []
        self.cells: list[str] = []
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag == "img":
            self.images.append(dict(attrs))
        self._in_cell = tag in ("td", "th")

    def handle_data(self, data: str) -> None:
        if self._in_cell:
            self.cells.append(data.strip())


def _check_report(report: Path, expected: set[str]) -> _Page:
    pngs = {p.name for p in report.glob("*.png")}
    assert pngs == expected
    for name in pngs:
        pixels = mpimg.imread(report / name)  # decodes: a real PNG
        assert pixels.shape[:2] == (PIXELS[1], PIXELS[0])
        assert pixels[..., :3].std() > 0.05  # something is drawn, not a blank canvas
    page = _Page()
    page.feed((report / "report.html").read_text(encoding="utf-8"))
    assert {img["data-file"] for img in page.images} == pngs
    for img in page.images:  # self-contained: the embedded bytes are the PNG files
        prefix = "data:image/png;base64,"
        assert img["src"].startswith(prefix)
        assert base64.b64decode(img["src"][len(prefix) :]) == (report / img["data-file"]).read_bytes()
    assert yaml.safe_load((report / "results.yaml").read_text())["metrics"]
    return page


def test_classification_report(sk_spam_model: Path, tmp_path: Path) -> None:
    evaluation = evaluate_model(sk_spam_model, [SPAM])
    write_report(evaluation, tmp_path / "report")
    page = _check_report(
        tmp_path / "report", {"roc.png", "pr.png", "confusion.png", "histograms.png", "reliability.png"}
    )
    per_class = evaluation.metrics["per_class"]
    assert "spam" in page.cells and "macro avg" in page.cells
    assert f"{per_class['spam']['f1']:.4f}" in page.cells
    assert str(per_class["ham"]["support"]) in page.cells


def test_regression_report(sk_formality_regressor: Path, tmp_path: Path) -> None:
    evaluation = evaluate_model(sk_formality_regressor, [BROWN])
    write_report(evaluation, tmp_path / "report")
    page = _check_report(tmp_path / "report", {"roc.png", "pr.png", "histograms.png", "reliability.png"})
    assert "Spearman" in page.cells and f"{evaluation.metrics['spearman']:.4f}" in page.cells
