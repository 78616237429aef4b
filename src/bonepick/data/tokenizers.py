"""Hugging Face ``tokenizers`` loading: the shipped tokenizers by short name, a local file or
folder, or a hub name (when the hub is reachable). Each tokenizer is built once per process.

The shipped files live zstd-compressed under ``bonepick/resources/tokenizers`` and are
decompressed in memory on first use (about 10 ms), so nothing is unpacked onto disk.
"""

from __future__ import annotations

import hashlib
import threading
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from bonepick.errors import ModelError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

DEFAULT_TOKENIZER = "dolma2"

# short name -> (resource file, sha256 of the uncompressed tokenizer.json, hub names it stands for)
SHIPPED: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "dolma2": (
        "dolma2_tokenizer.json.zst",
        "969c214487b744f1457d8a4f2055fd4ad348edff5322d4f21f2906ceb158a636",
        ("allenai/dolma2-tokenizer",),
    ),
    "ultra_fineweb": (
        "ultra_fineweb_tokenizer.json.zst",
        "2752e301739ec6598b2a511b2858dad08e0c6e57b988f215a79165f996ef3455",
        ("openbmb/Ultra-FineWeb-classifier",),
    ),
}

_lock = threading.Lock()
_cache: dict[str, Tokenizer] = {}


def shipped_name(name: str) -> str | None:
    """The shipped tokenizer ``name`` refers to (``dolma2``, ``ultra-fineweb``, a hub id of one of
    them), or None."""
    key = name.strip().lower().replace("-", "_")
    if key in SHIPPED:
        return key
    for short, (_file, _sha, hub_names) in SHIPPED.items():
        if name.strip().lower() in (h.lower() for h in hub_names):
            return short
    return None


def shipped_tokenizer_json(name: str, verify: bool = False) -> str:
    """The text of a shipped ``tokenizer.json`` (``verify`` checks its sha256)."""
    import zstandard

    file, sha, _hub = SHIPPED[name]
    packed = resources.files("bonepick").joinpath("resources", "tokenizers", file).read_bytes()
    data = zstandard.ZstdDecompressor().decompress(packed)
    if verify and hashlib.sha256(data).hexdigest() != sha:
        raise ModelError(f"the shipped tokenizer '{name}' is corrupt (sha256 mismatch)")
    return data.decode("utf-8")


def load_tokenizer(name_or_path: str | Path = DEFAULT_TOKENIZER) -> Tokenizer:
    """A :class:`tokenizers.Tokenizer`: ``dolma2`` / ``ultra_fineweb`` (shipped, offline), a local
    ``tokenizer.json`` or a folder holding one, or a Hugging Face hub name."""
    key = str(name_or_path)
    with _lock:
        if key not in _cache:
            _cache[key] = _load(key)
        return _cache[key]


def _load(key: str) -> Tokenizer:
    from tokenizers import Tokenizer

    short = shipped_name(key)
    if short is not None:
        return Tokenizer.from_str(shipped_tokenizer_json(short))

    path = Path(key).expanduser()
    if path.is_dir():
        path = path / "tokenizer.json"
        if not path.is_file():
            raise ModelError(
                f"no tokenizer.json in folder {path.parent}",
                hint="pass the tokenizer.json file itself or a folder that contains one",
            )
    if path.is_file():
        try:
            return Tokenizer.from_file(str(path))
        except Exception as error:  # tokenizers raises a bare Exception on bad JSON
            raise ModelError(
                f"cannot load tokenizer file {path}: {error}",
                hint="it must be a Hugging Face tokenizers `tokenizer.json`",
            ) from error
    if key.endswith(".json") or key.startswith((".", "/", "~")):
        raise ModelError(f"tokenizer file {key} does not exist", hint=_HINT)
    try:
        return Tokenizer.from_pretrained(key)
    except Exception as error:
        raise ModelError(
            f"cannot load tokenizer '{key}' from the Hugging Face hub: {error}", hint=_HINT
        ) from error


_HINT = (
    f"use a shipped tokenizer ({', '.join(sorted(SHIPPED))}), a local tokenizer.json path, "
    "or a hub name when the hub is reachable"
)
