"""Agreement metrics on small cases worked out by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bonepick.annotate import agreement as ag
from bonepick.errors import DataError, UsageError
from bonepick.io import write_rows


def approx(value: float) -> object:
    return pytest.approx(value, abs=1e-6)


# ------------------------------------------------------------------------------ pairwise, nominal


def test_cohen_kappa_two_by_two() -> None:
    # both yes 20, A yes/B no 5, A no/B yes 10, both no 15 (n = 50)
    # p_o = 35/50 = 0.7; P(A yes) = 0.5, P(B yes) = 0.6; p_e = 0.5*0.6 + 0.5*0.4 = 0.5
    # kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4
    a = ["yes"] * 20 + ["yes"] * 5 + ["no"] * 10 + ["no"] * 15
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    result = ag.nominal_pair(a, b)
    assert result["n"] == 50
    assert result["agreement"] == approx(0.7)
    assert result["cohen_kappa"] == approx(0.4)
    assert result["notes"] == []
    cm = ag.confusion(a, b)
    assert cm == {"labels": ["no", "yes"], "columns": ["no", "yes"], "matrix": [[15, 10], [5, 20]]}
    # rows and columns list only the labels each annotator used
    assert ag.confusion(["a", "a", "b"], ["a", "c", "c"]) == {
        "labels": ["a", "b"],
        "columns": ["a", "c"],
        "matrix": [[1, 1], [0, 1]],
    }


def test_single_label_makes_kappa_undefined_with_a_reason() -> None:
    result = ag.nominal_pair(["ham"] * 4, ["ham"] * 4)
    assert result["agreement"] == 1.0
    assert result["cohen_kappa"] is None
    assert "undefined" in result["notes"][0] and "'ham'" in result["notes"][0]


def test_one_annotator_with_a_single_label_gets_kappa_zero_and_a_note() -> None:
    # A: all "a"; B: a, a, b, b -> p_o = 0.5, p_e = 1*0.5 + 0*0.5 = 0.5 -> kappa 0
    result = ag.nominal_pair(["a"] * 4, ["a", "a", "b", "b"])
    assert result["cohen_kappa"] == approx(0.0)
    assert any("only the label 'a'" in note for note in result["notes"])


def test_perfect_agreement_is_kappa_one_and_said() -> None:
    result = ag.nominal_pair(["a", "b", "b"], ["a", "b", "b"])
    assert result["cohen_kappa"] == approx(1.0)
    assert result["notes"] == ["perfect agreement on all 3 rows"]


def test_numbers_and_their_spellings_are_one_label() -> None:
    # 1.0 (a number) and "1" (text) name the same class
    assert ag.nominal_pair([1.0, 2.0], ["1", "2"])["agreement"] == 1.0


# ------------------------------------------------------------------------------ pairwise, ordinal


def test_ordinal_metrics_by_hand() -> None:
    a = [1.0, 2.0, 3.0, 4.0]
    b = [1.0, 3.0, 3.0, 2.0]
    result = ag.ordinal_pair(a, b)
    # differences 0, -1, 0, 2: MAE 3/4, RMSE sqrt(5/4)
    assert result["mae"] == approx(0.75)
    assert result["rmse"] == approx(math.sqrt(1.25))
    assert result["mean_difference"] == approx(0.25)
    # deviations a: -1.5 -.5 .5 1.5 (ss 5), b: -1.25 .75 .75 -.25 (ss 2.75), cross 1.5
    assert result["pearson"] == approx(1.5 / math.sqrt(5 * 2.75))
    # ranks b: 1 3.5 3.5 2 -> deviations -1.5 1 1 -.5 (ss 4.5), cross with a's ranks 1.5
    assert result["spearman"] == approx(1.5 / math.sqrt(5 * 4.5))
    # 3 concordant, 2 discordant, 1 pair tied in b: tau-b = 1 / sqrt(6 * 5)
    assert result["kendall"] == approx(1 / math.sqrt(30))


def test_quadratic_kappa_by_hand() -> None:
    # O: (0,0) (1,2) (2,2); row sums 1 1 1, column sums 1 0 2 -> E row i = [1/3, 0, 2/3]
    # sum w*O = 1; sum w*E = 8/3 + 1 + 4/3 = 5 -> kappa = 1 - 1/5
    assert ag.ordinal_pair([0.0, 1.0, 2.0], [0.0, 2.0, 2.0])["quadratic_kappa"] == approx(0.8)


def test_quadratic_weights_follow_score_distance_not_label_rank() -> None:
    # scores 0, 1 and 3 are used, 2 is not: the scale must still put 3 two steps past 1
    assert ag.ordinal_grid([0.0, 1.0, 3.0]) == ([0.0, 1.0, 2.0, 3.0], True)
    assert ag.ordinal_grid([1.0, 1.5, 3.0]) == ([1.0, 1.5, 2.0, 2.5, 3.0], True)
    assert ag.ordinal_grid([1.0, 7 / 3, 3.0]) == ([1.0, 4 / 3, 5 / 3, 2.0, 7 / 3, 8 / 3, 3.0], True)
    assert ag.ordinal_grid([0.1, 0.75]) == ([0.1, 0.75], False)
    assert ag.grid_codes([1.0, 2.3333333, 3.0], [1.0, 4 / 3, 5 / 3, 2.0, 7 / 3, 8 / 3, 3.0]) == [0, 4, 6]
    from sklearn.metrics import cohen_kappa_score

    a, b = [0, 1, 3, 3, 0], [0, 3, 3, 1, 1]
    expected = cohen_kappa_score(a, b, labels=[0, 1, 2, 3], weights="quadratic")
    rank_based = cohen_kappa_score(a, b, weights="quadratic")
    assert expected != pytest.approx(rank_based)
    got = ag.ordinal_pair([float(v) for v in a], [float(v) for v in b])["quadratic_kappa"]
    assert got == approx(expected)


def test_constant_scores_make_correlations_undefined() -> None:
    result = ag.ordinal_pair([3.0, 3.0, 3.0], [1.0, 3.0, 5.0])
    assert result["pearson"] is None and result["spearman"] is None and result["kendall"] is None
    assert any("the first annotator gave every row the score 3" in n for n in result["notes"])
    assert result["mae"] == approx(4 / 3)
    same = ag.ordinal_pair([2.0, 2.0], [2.0, 2.0])
    assert same["quadratic_kappa"] is None
    assert any("every score is 2" in n for n in same["notes"])


def test_threshold_agreement_by_hand() -> None:
    # T = 3: a -> < < >= >=, b -> < >= >= <: same side on rows 1 and 3 -> 0.5
    # both put half the rows above: p_e = 0.5 -> kappa 0
    result = ag.threshold_pair([1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 3.0, 2.0], 3.0)
    assert result["agreement"] == approx(0.5)
    assert result["kappa"] == approx(0.0)
    assert result["share_above"] == [0.5, 0.5]
    allabove = ag.threshold_pair([4.0, 5.0], [3.0, 5.0], 3.0)
    assert allabove["agreement"] == 1.0 and allabove["kappa"] is None
    assert ">= 3" in allabove["notes"][0]


# ------------------------------------------------------------------------------ several annotators


def test_fleiss_kappa_by_hand() -> None:
    # items (3 raters): aaa, aab, bbb, abb -> P_i = 1, 1/3, 1, 1/3; mean 2/3
    # p_a = p_b = 6/12 -> P_e = 1/2 -> kappa = (2/3 - 1/2) / (1/2) = 1/3
    rows = [["a", "a", "a"], ["a", "a", "b"], ["b", "b", "b"], ["a", "b", "b"]]
    value, why = ag.fleiss(rows)
    assert value == approx(1 / 3) and why is None
    value, why = ag.fleiss([["x"] * 3] * 5)
    assert value is None and "undefined" in why and "'x'" in why
    assert ag.fleiss([])[0] is None


def test_krippendorff_alpha_by_hand() -> None:
    # coders A: a a b b, B: a b b b -> o_aa 2, o_ab = o_ba 1, o_bb 4; n_a 3, n_b 5, n 8
    # alpha = 1 - (n - 1) * (o_ab + o_ba) / (2 * n_a * n_b) = 1 - 7*2/30 = 16/30
    columns = [["a", "a", "b", "b"], ["a", "b", "b", "b"]]
    value, why = ag.krippendorff_alpha(columns, "nominal")
    assert value == approx(16 / 30) and why is None
    # with two values every disagreement is equally far: ordinal and interval give the same
    numbers = [[1.0, 1.0, 2.0, 2.0], [1.0, 2.0, 2.0, 2.0]]
    assert ag.krippendorff_alpha(numbers, "ordinal")[0] == approx(16 / 30)
    assert ag.krippendorff_alpha(numbers, "interval")[0] == approx(16 / 30)
    # interval, units (1,1) (2,2) (3,3) (3,1): n1 3, n2 2, n3 3, n 8
    # D_o = (4 + 4) / 8 = 1; D_e = 2 * (6*1 + 9*4 + 6*1) / (8*7) = 96/56 -> alpha = 1 - 56/96
    interval = [[1.0, 2.0, 3.0, 3.0], [1.0, 2.0, 3.0, 1.0]]
    assert ag.krippendorff_alpha(interval, "interval")[0] == approx(1 - 56 / 96)


def test_krippendorff_uses_missing_values_and_explains_degenerate_cases() -> None:
    # a third unit seen by one coder only carries no pairable value: same alpha as without it
    with_gap = [["a", "a", "b", "b", "a"], ["a", "b", "b", "b", None]]
    assert ag.krippendorff_alpha(with_gap, "nominal")[0] == approx(16 / 30)
    value, why = ag.krippendorff_alpha([["a", "a"], ["a", "a"]], "nominal")
    assert value is None and "the only label anyone used is 'a'" in why
    value, why = ag.krippendorff_alpha([["a", None], [None, "b"]], "nominal")
    assert value is None and "no row has two or more labels" in why


# ------------------------------------------------------------------------------ samples and keys


def test_aggregate_samples() -> None:
    assert ag.aggregate_samples([2.0, 2.0, 4.0], "majority") == 2.0
    assert ag.aggregate_samples([2.0, 2.0, 4.0, 4.0], "majority") == 3.0  # tie -> mean
    assert ag.aggregate_samples([1.0, 1.0, 2.0, 2.0, 6.0], "majority") == approx(2.4)
    assert ag.aggregate_samples(["b", "a", "a", "b"], "majority") == "b"  # text tie -> first seen
    assert ag.aggregate_samples([1.0, 2.0], "mean") == 1.5
    assert ag.aggregate_samples([3.0, 1.0, 2.0], "min") == 1.0
    assert ag.aggregate_samples([3.0, 1.0, 2.0], "max") == 3.0
    with pytest.raises(UsageError, match="needs numeric labels"):
        ag.aggregate_samples(["a", "b"], "mean")


def test_label_samples_flatten_and_convert() -> None:
    assert ag.label_samples([[1, 2, None]], numeric=True) == [1.0, 2.0]
    assert ag.label_samples(["3", True], numeric=True) == [3.0, 1.0]
    assert ag.label_samples([True, "spam", 2], numeric=False) == ["true", "spam", 2.0]
    assert ag.label_samples([None], numeric=False) == []
    with pytest.raises(DataError, match="f.jsonl:7: label 'spam' is not a number"):
        ag.label_samples(["spam"], numeric=True, path="f.jsonl", line=7)
    with pytest.raises(DataError, match="gave dict"):
        ag.label_samples([{"score": 3}], numeric=False)


def test_key_to_str() -> None:
    assert ag.key_to_str(7) == ag.key_to_str("7") == ag.key_to_str(7.0)
    assert ag.key_to_str({"b": 1, "a": 2}) == '{"a":2,"b":1}'


def test_label_table_duplicates_pool_keep_first_or_fail() -> None:
    pooled = ag.LabelTable(duplicates="aggregate")
    pooled.add("k", [1.0], ("s0", 1))
    pooled.add("k", [3.0, 3.0], ("s0", 2))
    later = ag.LabelTable(duplicates="aggregate")
    later.add("k", [5.0], ("s1", 1))
    later.add("k", [5.0], ("s1", 2))
    later.add("j", [], ("s1", 3))
    pooled.merge(later)
    assert pooled.samples == {"k": [1.0, 3.0, 3.0, 5.0, 5.0]}
    assert pooled.rows_per_duplicate == {"k": 4}  # four rows carry key k
    assert (pooled.rows, pooled.no_label, pooled.several_samples) == (5, 1, 1)

    first = ag.LabelTable(duplicates="first")
    first.add("k", [1.0], ("s0", 1))
    first.add("k", [9.0], ("s0", 2))
    assert first.samples == {"k": 1.0} and first.rows_per_duplicate == {"k": 2}

    strict = ag.LabelTable(duplicates="error")
    strict.add("k", [1.0], ("a.jsonl", 4))
    with pytest.raises(DataError, match=r"b.jsonl:9: key 'k' appears again \(first at a.jsonl:4\)"):
        strict.add("k", [1.0], ("b.jsonl", 9))


def test_broadcast_and_names() -> None:
    assert ag.broadcast([".label"], 3, "-l") == [".label"] * 3
    assert ag.broadcast([".a", ".b"], 2, "-l") == [".a", ".b"]
    with pytest.raises(UsageError, match="-l was given 2 times for 3 datasets"):
        ag.broadcast([".a", ".b"], 3, "-l")
    assert ag.annotator_names([Path("/x/gpt"), Path("/y/llama")], [".s", ".s"]) == ["gpt", "llama"]
    assert ag.annotator_names([Path("/x/d"), Path("/x/d")], [".label", ".llm.score"]) == [
        "label",
        "llm.score",
    ]
    assert ag.annotator_names([Path("/x/d"), Path("/y/d")], [".s", ".s"]) == ["1_d", "2_d"]


def test_read_and_analyse_small_datasets(tmp_path: Path) -> None:
    write_rows(
        tmp_path / "a" / "train" / "p0.jsonl", [{"id": 1, "s": 0}, {"id": 2, "s": 1}, {"id": 3, "s": 2}]
    )
    write_rows(tmp_path / "a" / "test" / "p0.jsonl", [{"id": 4, "s": 2}])
    write_rows(
        tmp_path / "b" / "p.jsonl",
        [
            {"id": "1", "s": [0, 0, 1]},  # majority 0
            {"id": "2", "s": [1, 2]},  # tie -> mean 1.5
            {"id": "3", "s": 2},
            {"id": "3", "s": 0},  # duplicate: pooled with the row above -> [2, 0] -> tie -> 1
            {"id": "5", "s": None},  # no label
        ],
    )
    config = ag.AgreementConfig(
        annotators=[
            ag.AnnotatorSpec("a", tmp_path / "a", ".s"),
            ag.AnnotatorSpec("b", tmp_path / "b", ".s"),
        ],
        ordinal=True,
    )
    config.validate()
    a, b = ag.read_annotators(config)
    assert a.labels == {"1": 0.0, "2": 1.0, "3": 2.0, "4": 2.0}
    assert b.labels == {"1": 0.0, "2": 1.5, "3": 1.0}
    assert (b.rows, b.no_label, b.several_samples, b.duplicate_keys, b.duplicate_rows) == (5, 1, 2, 1, 1)
    result = ag.analyse([a, b], config)
    assert result.common_keys == ["1", "2", "3"]
    pair = result.report["pairs"][0]
    assert (pair["n"], pair["only_a"], pair["only_b"]) == (3, 1, 0)
    assert pair["agreement"] == approx(1 / 3)
    assert pair["mae"] == approx((0 + 0.5 + 1) / 3)
    assert result.report["annotators"][0]["keys_only_here"] == 1
    notes = " ".join(result.report["notes"])
    assert "1 row(s) have no label" in notes and "pooled and aggregated (majority)" in notes


def test_no_shared_key_is_a_clear_error(tmp_path: Path) -> None:
    write_rows(tmp_path / "a" / "x.jsonl", [{"id": "a1", "l": "x"}])
    write_rows(tmp_path / "b" / "x.jsonl", [{"id": "b1", "l": "x"}])
    config = ag.AgreementConfig(
        annotators=[ag.AnnotatorSpec("a", tmp_path / "a", ".l"), ag.AnnotatorSpec("b", tmp_path / "b", ".l")]
    )
    with pytest.raises(DataError, match="share no key.*'a1'.*'b1'"):
        ag.analyse(ag.read_annotators(config), config)


def test_snippet() -> None:
    assert ag.snippet("a\n\n b  c", 10) == "a b c"
    assert ag.snippet("abcdefghijkl", 5) == "abcd…"


def test_tables_round_many_scores_and_stay_narrow() -> None:
    # means of three samples give thirds: the table counts them rounded to whole points
    a = ag.AnnotatorLabels(ag.AnnotatorSpec("a", Path("a"), ".s"), {}, 0, 0, 0, 0, 0, 1)
    b = ag.AnnotatorLabels(ag.AnnotatorSpec("b", Path("b"), ".s"), {}, 0, 0, 0, 0, 0, 1)
    values = [i / 3 for i in range(16)]  # 0, 1/3, ..., 5: 16 distinct scores
    a.labels = {str(i): float(round(v)) for i, v in enumerate(values)}
    b.labels = {str(i): v for i, v in enumerate(values)}
    config = ag.AgreementConfig(annotators=[a.spec, b.spec], ordinal=True)
    result = ag.analyse([a, b], config)
    tables = {title: (columns, rows) for title, columns, rows in ag.summary_tables(result.report, True, None)}
    title = next(t for t in tables if t.startswith("Label distribution"))
    assert title.endswith("(scores rounded to whole points)")
    columns, rows = tables[title]
    # 0, 1/3 -> 0; 2/3, 1, 4/3 -> 1; ... 5 -> 5 (x.5 rounds up)
    assert [r[0] for r in rows] == ["0", "1", "2", "3", "4", "5"]
    assert rows[0][2] == "2 (12.5%)" and rows[1][2] == "3 (18.8%)"
    assert all(len(columns) <= 8 for columns, _ in tables.values())
    cm = result.report["pairs"][0]["confusion_matrix"]
    assert cm["rounded"] is True and cm["columns"] == ["0", "1", "2", "3", "4", "5"]
    assert sum(map(sum, cm["matrix"])) == 16 and cm["matrix"][0] == [2, 0, 0, 0, 0, 0]
    markdown = ag.render_markdown(result.report)
    assert "| pair | quadratic κ | MAE | RMSE | Pearson | Spearman | Kendall |" in markdown
    assert "|---|---:|---:|---:|---:|---:|---:|" in markdown
    latex = ag.render_latex(result.report)
    assert "quadratic $\\kappa$ & MAE" in latex and "\\begin{tabular}{lrrrrrr}" in latex
