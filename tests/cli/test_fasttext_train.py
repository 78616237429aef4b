"""train-fasttext through the CLI, and the classifier eval and infer load from its folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bonepick.io import read_rows
from bonepick.models import ModelCard, load_model
from tests.conftest import SPAM


def _spam_test() -> tuple[list[str], list[str]]:
    rows = list(read_rows(SPAM / "test" / "part_00.jsonl.zst"))
    return [r["text"] for r in rows], [r["label"] for r in rows]


def test_session_model_beats_majority_baseline(fasttext_model_dir: Path) -> None:
    card = ModelCard.load(fasttext_model_dir)
    assert card.kind == "fasttext"
    assert card.labels == ["ham", "spam"]
    assert card.normalizer == "whitespace"
    assert card.data["train"]["documents"] == 600
    texts, gold = _spam_test()
    model = load_model(fasttext_model_dir)
    probs = model.predict(texts)
    assert probs.shape == (len(texts), 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    accuracy = float((np.array(model.labels)[probs.argmax(axis=1)] == np.array(gold)).mean())
    majority = max(gold.count(label) for label in set(gold)) / len(gold)
    assert accuracy >= majority + 0.15, (accuracy, majority)


def _split_lines(converted: Path) -> list[str]:
    return (converted / "train.txt").read_text(encoding="utf-8").splitlines(keepends=True)


def _folder(root: Path, converted: Path, **files: list[str] | str) -> Path:
    """A converted folder holding ``files`` (lists of lines or whole texts) and the fixture's report."""
    root.mkdir(parents=True)
    (root / "fasttext_conversion.yaml").write_bytes((converted / "fasttext_conversion.yaml").read_bytes())
    for name, content in files.items():
        text = content if isinstance(content, str) else "".join(content)
        (root / f"{name}.txt").write_text(text, encoding="utf-8")
    return root


def test_several_dirs_join_label_first_and_report_validation(
    cli, tmp_path: Path, fasttext_spam_converted: Path
) -> None:
    lines = _split_lines(fasttext_spam_converted)
    # the first folder's last line has no newline: joining must not glue it to the next label
    first = _folder(tmp_path / "a", fasttext_spam_converted, train="".join(lines[:250]).rstrip("\n"))
    second = _folder(tmp_path / "b", fasttext_spam_converted, train=lines[250:500], valid=lines[500:])
    out = tmp_path / "model"
    result = cli(
        "train-fasttext",
        "-d",
        first,
        "-d",
        second,
        "-o",
        out,
        "--epoch",
        "10",
        "--dimension",
        "16",
        "--bucket",
        "20000",
        "--thread",
        "1",
    )
    card = ModelCard.load(out)
    assert card.data["train"]["documents"] == 500
    assert sum(card.data["train"]["labels"].values()) == 500
    assert card.data["valid"]["documents"] == 100
    assert card.data["datasets"] == [str(first.resolve()), str(second.resolve())]
    assert card.hyperparameters["epoch"] == 10
    assert card.training["derived"] == {
        "word_ngrams": "from 500 training documents",
        "loss": "from single-label data",
    }
    assert card.hyperparameters["word_ngrams"] == 1
    metrics = card.training["valid_metrics"]
    assert metrics["documents"] == 100 and 0.0 <= metrics["accuracy"] <= 1.0
    assert set(metrics["f1"]) == {"ham", "spam"}
    assert "validation" in result.output and "accuracy" in result.output
    assert (out / "bonepick.yaml").is_file()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporaries left


def test_one_thread_and_seed_give_identical_models(
    cli, tmp_path: Path, fasttext_spam_converted: Path
) -> None:
    args = ["--epoch", "5", "--dimension", "16", "--bucket", "20000", "--thread", "1", "--seed", "7"]
    cli("train-fasttext", "-d", fasttext_spam_converted, "-o", tmp_path / "one", *args)
    cli("train-fasttext", "-d", fasttext_spam_converted, "-o", tmp_path / "two", *args)
    assert (tmp_path / "one" / "model.bin").read_bytes() == (tmp_path / "two" / "model.bin").read_bytes()
    assert ModelCard.load(tmp_path / "one").training["deterministic"] is True
    # an existing model is kept unless --overwrite
    result = cli("train-fasttext", "-d", fasttext_spam_converted, "-o", tmp_path / "one", *args, expect=1)
    assert "already exists" in result.output and "--overwrite" in result.output


def test_pretrained_vectors_set_the_dimension(
    cli, tmp_path: Path, fasttext_model_dir: Path, fasttext_spam_converted: Path
) -> None:
    source = load_model(fasttext_model_dir).model
    words = source.words[:2000]
    vec = tmp_path / "vectors.vec"
    with open(vec, "w", encoding="utf-8") as handle:
        handle.write(f"{len(words)} {source.get_dimension()}\n")
        for word in words:
            handle.write(word + " " + " ".join(f"{x:.5f}" for x in source.get_word_vector(word)) + "\n")
    out = tmp_path / "model"
    cli(
        "train-fasttext",
        "-d",
        fasttext_spam_converted,
        "-o",
        out,
        "--pretrained-vectors",
        vec,
        "--epoch",
        "5",
        "--bucket",
        "20000",
        "--thread",
        "1",
    )
    card = ModelCard.load(out)
    assert card.hyperparameters["dimension"] == 32
    assert card.training["derived"]["dimension"] == "from the pretrained vectors"
    result = cli(
        "train-fasttext",
        "-d",
        fasttext_spam_converted,
        "-o",
        tmp_path / "m2",
        "--pretrained-vectors",
        vec,
        "--dimension",
        "64",
        expect=1,
    )
    assert "differs from the pretrained vectors" in result.output


def test_predict_handles_newlines_empty_batches_and_label_order(fasttext_model_dir: Path) -> None:
    model = load_model(fasttext_model_dir)
    assert model.predict([]).shape == (0, 2)
    texts, _ = _spam_test()
    one_line = model.predict([texts[0].replace("\n", " ")])
    multi = model.predict_prepared([texts[0].replace(" ", "\n")])
    np.testing.assert_allclose(one_line, multi, atol=1e-6)
    # columns follow card.labels, whatever order fastText keeps its labels in
    raw_labels, raw_probs = model.model.predict(" ".join(texts[1].split()), k=-1)
    expected = dict(zip((label.removeprefix("__label__") for label in raw_labels), raw_probs, strict=True))
    row = model.predict([texts[1]])[0]
    for column, label in enumerate(model.labels):
        assert abs(row[column] - (expected[label] - 1e-5)) < 1e-6


def test_whitespace_normalizer_is_skipped_with_the_same_scores(fasttext_model_dir: Path) -> None:
    from bonepick.data.normalizers import get_normalizer
    from bonepick.evaluate.evaluate import EvalOptions, evaluate_model

    model = load_model(fasttext_model_dir)
    assert model.card.normalizer == "whitespace"
    texts, _ = _spam_test()
    odd = ["  lead\u3000and\ttrail \n", "a\x1cb\x85c\u00a0d", "caf\u00e9\r\n\n  cr\u00e8me", "", " \n "]
    texts = [*odd, *texts]
    normalized = get_normalizer("whitespace").normalize_batch(texts)
    # predict() skips the normalizer: exactly the scores of the normalized texts
    assert model.text_preparer("whitespace", None).normalizer is None
    np.testing.assert_array_equal(model.predict(texts), model.predict_prepared(normalized))
    # with a max length the cut depends on the normalized text, so the normalizer runs
    assert model.text_preparer("whitespace", 50).normalizer is not None
    # eval's scores match too (it prepares text through the same method)
    evaluation = evaluate_model(fasttext_model_dir, [SPAM], EvalOptions())
    np.testing.assert_array_equal(evaluation.predictions, model.predict_prepared(normalized[len(odd) :]))


def test_eval_of_shards_and_converted_text_together(
    fasttext_model_dir: Path, fasttext_spam_converted: Path
) -> None:
    from bonepick.evaluate.evaluate import EvalOptions, evaluate_model

    # a max length makes raw rows (cut) and converted lines (already prepared) score differently;
    # batches of exactly one file's rows must still keep each file's own preparation
    rows = len(_spam_test()[0])
    text_file = fasttext_spam_converted / "test.txt"
    for batch_size in (rows, 64):
        options = EvalOptions(max_length=40, batch_size=batch_size)
        both = evaluate_model(fasttext_model_dir, [SPAM, text_file], options)
        alone = [evaluate_model(fasttext_model_dir, [d], options).predictions for d in (SPAM, text_file)]
        np.testing.assert_array_equal(both.predictions, np.concatenate(alone))
        assert not np.array_equal(alone[0], alone[1])


def test_multi_label_lines_train_one_vs_all(cli, tmp_path: Path, fasttext_spam_converted: Path) -> None:
    lines = _split_lines(fasttext_spam_converted)
    # a second label on long messages: real multi-label lines, as convert-to-fasttext --multi-label writes
    multi = [line.replace(" ", " __label__long ", 1) if len(line) > 1000 else line for line in lines]
    data = _folder(tmp_path / "data", fasttext_spam_converted, train=multi[:500], valid=multi[500:])
    out = tmp_path / "model"
    cli(
        "train-fasttext",
        "-d",
        data,
        "-o",
        out,
        "--epoch",
        "10",
        "--dimension",
        "16",
        "--bucket",
        "20000",
        "--thread",
        "1",
    )
    card = ModelCard.load(out)
    assert card.task == "multilabel"
    assert card.hyperparameters["loss"] == "ova"
    assert card.labels == ["ham", "spam", "long"]  # the conversion report's order first
    assert card.data["train"]["multi_label_documents"] > 0
    assert {"micro_f1", "macro_f1"} <= set(card.training["valid_metrics"])
    probs = load_model(out).predict(_spam_test()[0][:20])
    assert probs.shape == (20, 3) and ((probs >= 0) & (probs <= 1)).all()


def test_autotune_searches_what_was_not_given(cli, tmp_path: Path, fasttext_spam_converted: Path) -> None:
    lines = _split_lines(fasttext_spam_converted)
    data = _folder(tmp_path / "data", fasttext_spam_converted, train=lines[:480], valid=lines[480:])
    out = tmp_path / "model"
    result = cli(
        "train-fasttext",
        "-d",
        data,
        "-o",
        out,
        "--autotune-duration",
        "2",
        "--dimension",
        "8",
        "--thread",
        "2",
    )
    card = ModelCard.load(out)
    assert card.hyperparameters["dimension"] == 8 and card.hyperparameters["thread"] == 2
    assert "autotune" in card.training["derived"] and card.training["deterministic"] is False
    assert card.training["valid_metrics"]["documents"] == 120
    assert "validation" in result.output


def test_texts_are_cleaned_like_the_converter_before_predict() -> None:
    import fasttext

    from bonepick.data.fasttext_format import clean_text
    from bonepick.models.fasttext import one_line

    texts, _ = _spam_test()
    odd = ["a\nb\tc", "x\u00a0y\u2028z", "quoted __label__spam here", "file\x1cseparator", "\r\n  ends  \n"]
    odd += [
        "caf\u00e9 au\u3000lait",
        "caf\u00e9\nnoir",
        "caf\u00e9 __label__x",
        "nul\x00byte",
        "\u00e9\x85\u205f",
    ]
    # every character Python splits on, alone and inside ASCII and non-ASCII text
    spaces = [chr(c) for c in range(0x110000) if chr(c).isspace()]
    odd += [f"a{space}b" for space in spaces] + [f"\u00e9{space}b" for space in spaces]
    for text in [*odd, *texts[:50]]:
        assert "\n" not in one_line(text)
        assert fasttext.tokenize(one_line(text)) == fasttext.tokenize(clean_text(text)), repr(text)
    # the batch form (checks over the joined batch) gives exactly one_line per text
    from bonepick.models.fasttext import one_lines

    ascii_plain = [t for t in texts[:50] if t.isascii()]
    for batch in (
        [],
        ascii_plain,
        [t.replace("\n", " ") for t in ascii_plain],
        texts[:50],
        odd,
        ["__lab", "el__ x"],
    ):
        assert one_lines(batch) == [one_line(text) + "\n" for text in batch]
    for text in odd:
        assert one_lines([*ascii_plain[:3], text]) == [one_line(t) + "\n" for t in [*ascii_plain[:3], text]]


def test_best_autotune_arguments_are_read_from_its_output() -> None:
    from bonepick.models.fasttext_worker import best_autotune_trial, parse_best_autotune_args

    log = (
        "Trial = 3\nepoch = 40\nlr = 2.5\ndim = 8\nminCount = 1\nwordNgrams = 3\nminn = 2\nmaxn = 5\n"
        "bucket = 812345\ndsub = 4\nloss = softmax\ncurrentScore = NaN\n\nTraining again with best arguments\n"
        "Best selected args = 0\nepoch = 5\nlr = 0.1\ndim = 8\nminCount = 1\nwordNgrams = 1\nminn = 0\n"
        "maxn = 0\nbucket = 0\ndsub = 2\nloss = softmax\nRead 0M words\n"
    )
    assert parse_best_autotune_args(log) == {
        "epoch": 5, "lr": 0.1, "dim": 8, "minCount": 1, "wordNgrams": 1, "minn": 0, "maxn": 0, "bucket": 0,
        "loss": "softmax",
    }  # fmt: skip
    assert parse_best_autotune_args("Progress: 100% Trials: 3") is None
    # without that line (autotune stopped at the time budget) the best finished trial is taken:
    # the first with the highest score, NaN skipped, an unfinished trial ignored
    assert best_autotune_trial(log) is None  # the only finished trial scored NaN
    trials = "".join(
        f"Trial = {n}\nepoch = {n}\nlr = 0.1\ndim = 8\nminCount = 1\nwordNgrams = 2\nminn = 0\nmaxn = 0\n"
        f"bucket = 1000\ndsub = 2\nloss = softmax\ncurrentScore = {score}\ntrain took = 0.3\n"
        for n, score in ((1, "0.8"), (2, "NaN"), (3, "0.9"), (4, "0.9"))
    )
    score, args = best_autotune_trial(trials + "Trial = 5\nepoch = 99\n")
    assert score == 0.9 and args["epoch"] == 3 and args["bucket"] == 1000
