from __future__ import annotations

import pytest

from bonepick.data.sizes import amount_to_rows, parse_amount, parse_size
from bonepick.errors import UsageError


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("5GB", 5 * 10**9),
        ("1.5G", 1_500_000_000),
        ("500MB", 500 * 10**6),
        ("2GiB", 2 * 2**30),
        ("1000", 1000),
        ("10 kb", 10_000),
        (".5M", 500_000),
    ],
)
def test_parse_size(text: str, value: int) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "5XB", "GB", "-1GB", "1..5G"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(UsageError):
        parse_size(text)


def test_amounts() -> None:
    assert parse_amount("0.1", "--test-split") == 0.1
    assert parse_amount("10000", "--test-split") == 10000
    assert parse_amount("3.0", "--test-split") == 3
    assert amount_to_rows(0.1, 995, "x") == 100 and amount_to_rows(7, 10, "x") == 7
    for bad in ("1.5", "abc", "-3"):
        with pytest.raises(UsageError):
            parse_amount(bad, "--test-split")
    with pytest.raises(UsageError):
        amount_to_rows(11, 10, "--test-split")
