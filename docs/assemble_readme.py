"""Build README.md from docs/readme_head.md, the guide sections in pipeline order, and the CLI
reference generated from the app; and WORKLOG.md from docs/worklog_head.md and docs/worklog/.

    uv run python docs/assemble_readme.py
"""

from __future__ import annotations

from pathlib import Path

from bonepick.cli.reference import render_reference

DOCS = Path(__file__).resolve().parent
ORDER = [
    "data",
    "normalizers",
    "fasttext",
    "model2vec",
    "encoder",
    "evaluate",
    "infer",
    "annotate",
    "agreement",
    "bootstrap",
]


def main() -> None:
    parts = [(DOCS / "readme_head.md").read_text(encoding="utf-8").rstrip() + "\n"]
    for name in ORDER:
        path = DOCS / "guide" / f"{name}.md"
        if path.exists():
            parts.append(path.read_text(encoding="utf-8").strip() + "\n")
    parts.append("## CLI reference\n\n" + render_reference() + "\n")
    (DOCS.parent / "README.md").write_text("\n".join(parts), encoding="utf-8")
    log = [(DOCS / "worklog_head.md").read_text(encoding="utf-8").rstrip() + "\n"]
    for name in ORDER:
        path = DOCS / "worklog" / f"{name}.md"
        if path.exists():
            log.append(path.read_text(encoding="utf-8").strip() + "\n")
    (DOCS.parent / "WORKLOG.md").write_text("\n".join(log), encoding="utf-8")


if __name__ == "__main__":
    main()
