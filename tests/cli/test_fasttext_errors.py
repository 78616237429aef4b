"""Clear messages (exit 1, no traceback) for input train-fasttext cannot use."""

from __future__ import annotations

from pathlib import Path

import pytest

FAST = ["--epoch", "2", "--dimension", "8", "--bucket", "1000", "--thread", "1"]


def _lines(converted: Path, n: int) -> str:
    return "".join((converted / "train.txt").read_text(encoding="utf-8").splitlines(keepends=True)[:n])


@pytest.mark.parametrize(
    ("train", "message"),
    [
        ("__label__ham hello there\nthis line forgot its label\n", "train.txt:2: line has no label"),
        ("", "the train split has no labeled lines"),
        ("\n\n", "the train split has no labeled lines"),
    ],
)
def test_bad_training_files(cli, tmp_path: Path, train: str, message: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.txt").write_text(train, encoding="utf-8")
    result = cli("train-fasttext", "-d", data, "-o", tmp_path / "model", *FAST, expect=1)
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "model" / "model.bin").exists()


def test_empty_validation_split_and_missing_train(cli, tmp_path: Path, fasttext_spam_converted: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.txt").write_text(_lines(fasttext_spam_converted, 50), encoding="utf-8")
    (data / "valid.txt").write_text("", encoding="utf-8")
    result = cli("train-fasttext", "-d", data, "-o", tmp_path / "m", *FAST, expect=1)
    assert "the valid split has no labeled lines" in result.output
    result = cli("train-fasttext", "-d", tmp_path / "nowhere", "-o", tmp_path / "m", expect=1)
    assert "no such folder" in result.output
    result = cli("train-fasttext", "-d", tmp_path, "-o", tmp_path / "m", expect=1)
    assert "has no train.txt" in result.output


def test_option_mistakes(cli, tmp_path: Path, fasttext_spam_converted: Path) -> None:
    d = fasttext_spam_converted
    cases = [
        (["--loss", "hinge"], "unknown loss 'hinge'"),
        (["--epoch", "0"], "--epoch must be above 0"),
        (["--min-char-ngram", "5", "--max-char-ngram", "3"], "smaller than --min-char-ngram"),
        (["--autotune-duration", "5"], "needs a validation split"),
        (["--autotune-duration", "5", "--bucket", "1000"], "--bucket cannot be fixed"),
        (["--pretrained-vectors", tmp_path / "none.vec"], "no such pretrained vectors file"),
    ]
    for args, message in cases:
        result = cli("train-fasttext", "-d", d, "-o", tmp_path / "m", *args, expect=1)
        assert message in result.output, (args, result.output)
    text_vectors = tmp_path / "model.vec"
    text_vectors.write_bytes(b"\xba\xb1\x01\x00binary fastText model, not vectors\n")
    result = cli(
        "train-fasttext", "-d", d, "-o", tmp_path / "m", "--pretrained-vectors", text_vectors, expect=1
    )
    assert "not a fastText .vec file" in result.output


def test_folders_converted_differently_are_refused(
    cli, tmp_path: Path, fasttext_spam_converted: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "train.txt").write_text(_lines(fasttext_spam_converted, 20), encoding="utf-8")
    report = (fasttext_spam_converted / "fasttext_conversion.yaml").read_text()
    (other / "fasttext_conversion.yaml").write_text(
        report.replace("normalizer: whitespace", "normalizer: null")
    )
    result = cli("train-fasttext", "-d", fasttext_spam_converted, "-d", other, "-o", tmp_path / "m", expect=1)
    assert "different normalizer values" in result.output
