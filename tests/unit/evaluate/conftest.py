"""Small real models for the evaluation tests, trained once per session on tests/data."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import BROWN, SPAM

#: a 3-level "how formal" rating derived from the Brown genres: real text, ordinal labels
FORMALITY = {
    "learned": 2,
    "government": 2,
    "religion": 2,
    "news": 1,
    "editorial": 1,
    "reviews": 1,
    "hobbies": 1,
    "lore": 1,
    "belles_lettres": 1,
}


def formality(row: dict) -> int:
    return FORMALITY.get(row["genre"], 0)


FORMALITY_JQ = (
    'if (.genre | IN("learned", "government", "religion")) then 2 '
    'elif (.genre | IN("news", "editorial", "reviews", "hobbies", "lore", "belles_lettres")) then 1 else 0 end'
)


@pytest.fixture(scope="session")
def sk_spam_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.unit.evaluate import skmodel

    return skmodel.train(tmp_path_factory.mktemp("sk") / "spam", SPAM / "train")


@pytest.fixture(scope="session")
def sk_formality_regressor(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.unit.evaluate import skmodel

    return skmodel.train(
        tmp_path_factory.mktemp("sk") / "formality-reg",
        BROWN / "train",
        task="regression",
        label_expression=FORMALITY_JQ,
        label_of=formality,
    )


@pytest.fixture(scope="session")
def sk_formality_classifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.unit.evaluate import skmodel

    return skmodel.train(
        tmp_path_factory.mktemp("sk") / "formality-clf",
        BROWN / "train",
        label_expression=FORMALITY_JQ,
        label_of=formality,
    )
