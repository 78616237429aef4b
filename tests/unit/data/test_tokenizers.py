"""The shipped tokenizers load offline, match their published hashes, and are cached."""

from __future__ import annotations

import pytest

from bonepick.data.tokenizers import SHIPPED, load_tokenizer, shipped_tokenizer_json
from bonepick.errors import ModelError
from tests.conftest import SHARED


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_tokenizer_matches_published_file(name: str) -> None:
    text = shipped_tokenizer_json(name, verify=True)  # raises on a sha256 mismatch
    assert text == (SHARED / "tokenizers" / f"{name}_tokenizer.json").read_text(encoding="utf-8")


def test_names_paths_and_cache(tmp_path) -> None:
    dolma2 = load_tokenizer("dolma2")
    assert load_tokenizer("dolma2") is dolma2
    assert load_tokenizer("allenai/dolma2-tokenizer").get_vocab_size() == 100_278
    assert (
        load_tokenizer("ultra-fineweb").get_vocab_size() == load_tokenizer("ultra_fineweb").get_vocab_size()
    )
    (tmp_path / "tokenizer.json").write_text(shipped_tokenizer_json("dolma2"), encoding="utf-8")
    from_dir = load_tokenizer(tmp_path)
    from_file = load_tokenizer(tmp_path / "tokenizer.json")
    text = "Hello, world! Ünïcödé text."
    assert from_dir.encode(text).ids == from_file.encode(text).ids == dolma2.encode(text).ids


def test_missing_and_bad_files_are_model_errors(tmp_path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        load_tokenizer(str(tmp_path / "missing.json"))
    with pytest.raises(ModelError, match="no tokenizer.json"):
        load_tokenizer(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelError, match="cannot load tokenizer file"):
        load_tokenizer(bad)
