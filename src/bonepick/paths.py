"""Where bonepick keeps things on the user's machine."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The user cache folder (``BONEPICK_CACHE_DIR`` overrides the platform default)."""
    override = os.environ.get("BONEPICK_CACHE_DIR")
    if override:
        path = Path(override)
    else:
        from platformdirs import user_cache_dir

        path = Path(user_cache_dir("bonepick"))
    path.mkdir(parents=True, exist_ok=True)
    return path
