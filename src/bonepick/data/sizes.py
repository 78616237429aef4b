"""Parsing the sizes and split amounts users type: ``5GB``, ``1.5G``, ``500MiB``, ``0.1``, ``10000``."""

from __future__ import annotations

import re

from bonepick.errors import UsageError

_UNITS = {
    "": 1,
    "B": 1,
    "K": 10**3,
    "KB": 10**3,
    "M": 10**6,
    "MB": 10**6,
    "G": 10**9,
    "GB": 10**9,
    "T": 10**12,
    "TB": 10**12,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]*)\s*$")


def parse_size(text: str) -> int:
    """Bytes in a size such as ``500MB``, ``1.5G``, ``2GiB`` or ``1000`` (decimal units K/M/G/T,
    binary units KiB/MiB/GiB/TiB)."""
    match = _SIZE.match(str(text))
    unit = match.group(2).upper() if match else ""
    if not match or unit not in _UNITS:
        raise UsageError(
            f"cannot read the size '{text}'",
            hint="use a number with an optional unit: 500MB, 1.5G, 2GiB, 1000000",
        )
    return int(round(float(match.group(1)) * _UNITS[unit]))


def format_size(nbytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(nbytes) < 1000:
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000
    return f"{nbytes:.1f} TB"


def parse_amount(text: str | float | int | None, option: str) -> float | int | None:
    """A split amount: a float in (0, 1) is a fraction, an integer a row count."""
    if text is None:
        return None
    if isinstance(text, int | float) and not isinstance(text, bool):
        value: float | int = text
    else:
        raw = str(text).strip()
        try:
            value = int(raw)
        except ValueError:
            try:
                value = float(raw)
            except ValueError:
                raise UsageError(
                    f"{option} must be a fraction like 0.1 or a row count like 10000, got '{text}'"
                ) from None
    if isinstance(value, float):
        if value.is_integer() and value >= 1:
            return int(value)
        if not 0 < value < 1:
            raise UsageError(f"{option} as a fraction must be between 0 and 1, got {value}")
        return value
    if value < 0:
        raise UsageError(f"{option} must not be negative, got {value}")
    return value


def amount_to_rows(amount: float | int | None, total: int, option: str) -> int:
    """Rows an amount stands for out of ``total`` (fractions round to the nearest row)."""
    if amount is None:
        return 0
    rows = round(amount * total) if isinstance(amount, float) else amount
    if rows > total:
        raise UsageError(f"{option} asks for {rows:,} rows but there are only {total:,}")
    return rows
