"""Small helpers the scoring tests share (infer, thresholds, filter, infer on Ray)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any


def digest(root: Path) -> dict[str, str]:
    """SHA-256 of every JSON Lines file under ``root`` (bonepick's own bookkeeping left out)."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*.jsonl*"))
        if ".bonepick" not in p.parts
    }


def infer(cli: Any, model_dir: Path, docs: Path, out: Path, *args: Any, expect: int | None = 0) -> Any:
    """``bonepick infer -m MODEL -i DOCS -o OUT ARGS...``."""
    return cli("infer", "-m", model_dir, "-i", docs, "-o", out, *args, expect=expect)


def filter_docs(cli: Any, docs: Path, out: Path, *args: Any, expect: int | None = 0) -> Any:
    """``bonepick filter -i DOCS -o OUT ARGS...``."""
    return cli("filter", "-i", docs, "-o", out, *args, expect=expect)
