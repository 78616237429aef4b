"""``bonepick annotation-agreement`` on real text with simulated annotators.

Annotators are derived deterministically from the real rows of tests/data: the true label, and
copies with a seeded share of flipped labels (real text, real disagreement). Expected numbers are
counted in the test from the rows it wrote, independently of the library.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml

from bonepick.io import read_rows, write_rows
from tests.conftest import BROWN, SPAM

FLIP = {"ham": "spam", "spam": "ham"}


def _rows(root: Path) -> list[dict]:
    return [row for path in sorted(root.rglob("*.jsonl.zst")) for row in read_rows(path)]


def _noisy(rows: list[dict], seed: int, rate: float) -> list[dict]:
    rng = random.Random(seed)
    return [
        {"id": r["id"], "label": FLIP[r["label"]] if rng.random() < rate else r["label"], "text": r["text"]}
        for r in rows
    ]


@pytest.fixture
def cli(cli):
    """The CLI with one process unless the test asks for more (spawning workers costs seconds)."""

    def run(*args, expect: int | None = 0):
        extra = () if "-p" in args else ("-p", "1")
        return cli(*args, *extra, expect=expect)

    return run


@pytest.fixture(scope="module")
def spam_rows() -> list[dict]:
    return _rows(SPAM)


@pytest.fixture(scope="module")
def annotators(tmp_path_factory: pytest.TempPathFactory, spam_rows: list[dict]) -> dict[str, Path]:
    """truth: the SPAM labels; noisy: 15% flipped, 40 rows missing, 5 keys annotated twice."""
    root = tmp_path_factory.mktemp("annotators")
    truth = [{"id": r["id"], "label": r["label"], "text": r["text"]} for r in spam_rows]
    write_rows(root / "truth" / "train" / "part_00.jsonl.zst", truth[:500])
    write_rows(root / "truth" / "test" / "part_00.jsonl.zst", truth[500:])
    noisy = _noisy(spam_rows, seed=7, rate=0.15)
    kept = noisy[40:]  # the first 40 rows were never annotated by "noisy"
    again = [{**row, "label": FLIP[row["label"]]} for row in kept[:5]]  # a second, opposite opinion
    write_rows(root / "noisy" / "a.jsonl", kept[:400] + again)
    write_rows(root / "noisy" / "b.jsonl.gz", kept[400:])
    write_rows(root / "other" / "x.jsonl", _noisy(spam_rows, seed=11, rate=0.2))
    return {"root": root, "truth": root / "truth", "noisy": root / "noisy", "other": root / "other"}


def test_pair_coverage_kappa_confusion_disagreements_and_files(
    cli, tmp_path: Path, annotators: dict[str, Path], spam_rows: list[dict]
) -> None:
    out = tmp_path / "report.yaml"
    result = cli(
        "annotation-agreement",
        "-d", annotators["truth"],
        "-d", annotators["noisy"],
        "-l", ".label",
        "--duplicates", "first",
        "--show-confusion-matrix",
        "--show-disagreements", "4",
        "--snippet-chars", "80",
        "-o", out,
        "--markdown", tmp_path / "report.md",
        "--latex", tmp_path / "report.tex",
        "-p", "1",
    )  # fmt: skip
    report = yaml.safe_load(out.read_text())
    truth = {r["id"]: r["label"] for r in spam_rows}
    noisy = {r["id"]: r["label"] for r in _noisy(spam_rows, seed=7, rate=0.15)[40:]}  # first row wins
    common = sorted(set(truth) & set(noisy))
    agree = sum(truth[k] == noisy[k] for k in common)
    # Cohen's kappa from the 2x2 counts
    p_o = agree / len(common)
    p_truth = Counter(truth[k] for k in common)
    p_noisy = Counter(noisy[k] for k in common)
    p_e = sum(p_truth[c] * p_noisy[c] for c in ("ham", "spam")) / len(common) ** 2
    kappa = (p_o - p_e) / (1 - p_e)

    truth_row, noisy_row = report["annotators"]
    assert (truth_row["rows"], truth_row["labelled_keys"], truth_row["keys_only_here"]) == (800, 800, 40)
    assert (noisy_row["rows"], noisy_row["duplicate_keys"], noisy_row["duplicate_rows"]) == (765, 5, 5)
    assert report["coverage"]["keys_in_all"] == len(common) == 760
    pair = report["pairs"][0]
    assert (pair["n"], pair["only_a"], pair["only_b"]) == (760, 40, 0)
    assert pair["agreement"] == pytest.approx(p_o, abs=1e-6)
    assert pair["cohen_kappa"] == pytest.approx(kappa, abs=1e-5)
    assert 0.5 < kappa < 0.85  # a 15% flip leaves real but imperfect agreement
    cm = pair["confusion_matrix"]
    assert cm["labels"] == ["ham", "spam"]
    assert cm["matrix"][0][1] == sum(truth[k] == "ham" and noisy[k] == "spam" for k in common)
    assert report["distribution"]["common_rows"]["noisy"] == dict(sorted(p_noisy.items()))
    assert "keep" not in report["notes"][0]
    assert (
        "5 key(s) appear on more than one row (5 extra row(s)); the first row of each was kept"
        in " ".join(report["notes"])
    )

    # disagreements: real rows where the two differ, with the start of their real text
    texts = {r["id"]: " ".join(r["text"].split()) for r in spam_rows}
    shown = report["disagreements"]
    assert len(shown) == 4
    for item in shown:
        assert item["labels"]["truth"] != item["labels"]["noisy"]
        assert item["labels"]["truth"] == truth[item["key"]]
        assert texts[item["key"]].startswith(item["text"].rstrip("…"))
        assert len(item["text"]) <= 80
    assert shown[0]["key"] in result.output
    assert "truth \\ noisy" in result.output  # the confusion matrix corner
    assert "Cohen κ" in result.output and f"{kappa:.4f}" in result.output

    markdown = (tmp_path / "report.md").read_text()
    assert "| truth vs noisy | 760 |" in markdown and "## Disagreements (4 shown)" in markdown
    latex = (tmp_path / "report.tex").read_text()
    assert "\\begin{tabular}" in latex and f"{kappa:.4f}" in latex and "Cohen $\\kappa$" in latex


def test_duplicates_are_pooled_by_default_and_can_be_an_error(cli, tmp_path: Path, annotators) -> None:
    out = tmp_path / "r.yaml"
    cli(
        "annotation-agreement",
        "-d",
        annotators["truth"],
        "-d",
        annotators["noisy"],
        "-l",
        ".label",
        "-o",
        out,
    )
    report = yaml.safe_load(out.read_text())
    # two opposite labels per duplicate key: a text tie goes to the label seen first
    assert "pooled and aggregated (majority)" in " ".join(report["notes"])
    result = cli(
        "annotation-agreement", "-d", annotators["truth"], "-d", annotators["noisy"], "-l", ".label",
        "--duplicates", "error", expect=1,
    )  # fmt: skip
    first_dup_line = 401  # the 5 repeated rows follow the first 400 rows of a.jsonl
    assert f"a.jsonl:{first_dup_line}: key" in result.output and "appears again (first at" in result.output
    assert "Traceback" not in result.output


def test_three_annotators_fleiss_and_parallel_equals_serial(
    cli, tmp_path: Path, annotators, spam_rows
) -> None:
    reports = []
    for procs in ("1", "2"):
        out = tmp_path / f"r{procs}.yaml"
        cli(
            "annotation-agreement",
            "-d", annotators["truth"], "-d", annotators["noisy"], "-d", annotators["other"],
            "-l", ".label", "--duplicates", "first", "-o", out, "-p", procs,
        )  # fmt: skip
        report = yaml.safe_load(out.read_text())
        report.pop("provenance")
        reports.append(report)
    assert reports[0] == reports[1]
    report = reports[0]
    assert [p["a"] + "/" + p["b"] for p in report["pairs"]] == ["truth/noisy", "truth/other", "noisy/other"]
    truth = {r["id"]: r["label"] for r in spam_rows}
    noisy = {r["id"]: r["label"] for r in _noisy(spam_rows, 7, 0.15)[40:]}
    other = {r["id"]: r["label"] for r in _noisy(spam_rows, 11, 0.2)}
    common = sorted(set(truth) & set(noisy) & set(other))
    all_agree = sum(truth[k] == noisy[k] == other[k] for k in common) / len(common)
    assert report["overall"]["all_agree"] == pytest.approx(all_agree, abs=1e-6)
    assert report["overall"]["keys_in_all"] == 760 and report["overall"]["keys_in_any"] == 800
    # Fleiss' kappa from the category counts per row (3 raters)
    n = 3
    p_i, totals = [], Counter()
    for k in common:
        counts = Counter((truth[k], noisy[k], other[k]))
        totals.update(counts)
        p_i.append((sum(c * c for c in counts.values()) - n) / (n * (n - 1)))
    p_bar = sum(p_i) / len(p_i)
    p_e = sum((c / (n * len(common))) ** 2 for c in totals.values())
    assert report["overall"]["fleiss_kappa"] == pytest.approx((p_bar - p_e) / (1 - p_e), abs=1e-6)
    assert 0.3 < report["overall"]["krippendorff_alpha_nominal"] < 0.9


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Brown paragraphs with a 0-5 score from their length (annotator "len") and 3 noisy samples
    of it per row (annotator "llm", as annotate-dataset --samples 3 would store them)."""
    rows = _rows(BROWN / "test")
    cuts = [350, 400, 470, 575, 790]
    rng = random.Random(3)
    base, llm = [], []
    for r in rows:
        score = sum(len(r["text"]) >= c for c in cuts)
        samples = [min(5, max(0, score + rng.choice((-1, 0, 0, 1)))) for _ in range(3)]
        base.append({"id": r["id"], "text": r["text"], "score": score})
        llm.append({"id": r["id"], "edu": {"samples": samples}})
    root = tmp_path_factory.mktemp("scored")
    write_rows(root / "len" / "test" / "s.jsonl.zst", base)
    write_rows(root / "llm" / "test" / "s.jsonl.zst", llm)
    return {"root": root, "base": base, "llm": llm}


def test_ordinal_threshold_samples_and_plots(cli, tmp_path: Path, scored) -> None:
    root = scored["root"]
    out = tmp_path / "r.yaml"
    result = cli(
        "annotation-agreement", "-d", root / "len", "-d", root / "llm", "-l", ".score", "-l", ".edu.samples",
        "--ordinal", "--threshold", "3", "--aggregate", "mean", "--plot", tmp_path / "plots", "-o", out,
    )  # fmt: skip
    report = yaml.safe_load(out.read_text())
    x = np.array([r["score"] for r in scored["base"]], dtype=float)
    y = np.array([sum(r["edu"]["samples"]) / 3 for r in scored["llm"]], dtype=float)
    pair = report["pairs"][0]
    assert pair["n"] == 200
    assert pair["mae"] == pytest.approx(np.mean(np.abs(x - y)), abs=1e-6)
    assert pair["rmse"] == pytest.approx(math.sqrt(np.mean((x - y) ** 2)), abs=1e-6)
    assert pair["pearson"] == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-6)
    assert pair["threshold"]["agreement"] == pytest.approx(np.mean((x >= 3) == (y >= 3)), abs=1e-6)
    assert 0.5 < pair["quadratic_kappa"] < 1 and 0.5 < pair["spearman"] < 1 and 0.4 < pair["kendall"] < 1
    assert report["annotators"][1]["rows_with_several_samples"] == 200
    assert report["overall"]["krippendorff_alpha_ordinal"] is not None
    assert "quadratic κ" in result.output and "agree @ 3" in result.output

    plots = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert plots == [
        "confusion_len_vs_llm.png",
        "difference_len_vs_llm.png",
        "distribution_len.png",
        "distribution_llm.png",
        "distributions.png",
    ]
    import matplotlib.image

    for name in plots:
        data = (tmp_path / "plots" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        image = matplotlib.image.imread(tmp_path / "plots" / name)
        assert image.shape[0] > 100 and image.shape[1] > 100


def test_majority_of_samples_ties_go_to_the_mean(cli, tmp_path: Path, scored) -> None:
    root = scored["root"]
    out = tmp_path / "r.yaml"
    cli("annotation-agreement", "-d", root / "len", "-d", root / "llm", "-l", ".score", "-l", ".edu.samples[]",
        "--ordinal", "-o", out)  # fmt: skip
    expected = []
    for r in scored["llm"]:
        counts = Counter(r["edu"]["samples"]).most_common()
        top = [v for v, c in counts if c == counts[0][1]]
        expected.append(top[0] if len(top) == 1 else sum(r["edu"]["samples"]) / 3)
    x = np.array([r["score"] for r in scored["base"]], dtype=float)
    mae = np.mean(np.abs(x - np.array(expected)))
    assert yaml.safe_load(out.read_text())["pairs"][0]["mae"] == pytest.approx(mae, abs=1e-6)


def test_same_folder_two_fields_perfect_agreement(cli, tmp_path: Path) -> None:
    """Brown's label against one derived from its genre: the same by construction."""
    imaginative = {"fiction", "mystery", "science_fiction", "adventure", "romance", "humor"}
    rows = [
        {**r, "from_genre": "imaginative" if r["genre"] in imaginative else "informative"}
        for r in _rows(BROWN / "test")
    ]
    write_rows(tmp_path / "brown" / "test" / "x.jsonl", rows)
    out = tmp_path / "r.yaml"
    result = cli(
        "annotation-agreement", "-d", tmp_path / "brown", "-d", tmp_path / "brown",
        "-l", ".label", "-l", ".from_genre", "-o", out,
    )  # fmt: skip
    report = yaml.safe_load(out.read_text())
    assert [a["name"] for a in report["annotators"]] == ["label", "from_genre"]
    assert report["pairs"][0]["agreement"] == 1.0 and report["pairs"][0]["cohen_kappa"] == 1.0
    assert "perfect agreement on all 200 rows" in result.output


def test_single_label_explains_undefined_kappa(cli, tmp_path: Path, spam_rows) -> None:
    ham = [r for r in spam_rows if r["label"] == "ham"][:50]
    write_rows(tmp_path / "a" / "x.jsonl", ham)
    write_rows(tmp_path / "b" / "x.jsonl", ham)
    result = cli("annotation-agreement", "-d", tmp_path / "a", "-d", tmp_path / "b", "-l", ".label")
    assert "Cohen's kappa is undefined: both annotators gave all 50 rows the label 'ham'" in result.output
    assert "Krippendorff's alpha (nominal) is undefined" in result.output


def test_no_overlap_and_bad_options_exit_1(cli, tmp_path: Path, annotators) -> None:
    result = cli(
        "annotation-agreement", "-d", annotators["truth"], "-d", annotators["noisy"], "-l", ".label",
        "-k", ".id", "-k", ".text | length", expect=1,
    )  # fmt: skip
    assert "error: annotators 'truth' and 'noisy' share no key" in result.output
    assert "hint: check the -k key expressions" in result.output
    result = cli("annotation-agreement", "-d", annotators["truth"], "-l", ".label", expect=1)
    assert "needs at least two -d" in result.output
    result = cli(
        "annotation-agreement", "-d", annotators["truth"], "-d", annotators["noisy"], "-d", annotators["other"],
        "-l", ".label", "-l", ".x", expect=1,
    )  # fmt: skip
    assert "-l/--label-expression was given 2 times for 3 datasets" in result.output
    result = cli(
        "annotation-agreement", "-d", annotators["truth"], "-d", annotators["noisy"], "-l", ".label", "--ordinal",
        expect=1,
    )  # fmt: skip
    first_label = _rows(annotators["truth"] / "train")[0]["label"]
    assert f"part_00.jsonl.zst:1: label '{first_label}' is not a number" in result.output
    result = cli(
        "annotation-agreement", "-d", annotators["truth"], "-d", annotators["noisy"], "-l", ".label",
        "--aggregate", "median", expect=1,
    )  # fmt: skip
    assert "unknown --aggregate 'median'" in result.output
    assert "Traceback" not in result.output
