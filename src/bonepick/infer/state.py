"""The settings a scoring or filtering run wrote its output with, kept in the output's state
folder so a rerun resumes only when nothing that changes the output has changed."""

from __future__ import annotations

from bonepick.pipeline.settings import check_same_settings, read_settings, settings_path

__all__ = ["check_same_settings", "read_settings", "settings_path"]
