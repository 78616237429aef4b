"""Cutting long texts at boundaries, head-tail, evenly spaced chunks."""

from __future__ import annotations

import pytest

from bonepick.annotate.chunking import chunks, fit, head, head_tail
from bonepick.errors import UsageError
from tests.conftest import BROWN


@pytest.fixture(scope="module")
def document() -> str:
    from bonepick.io import read_rows

    return "\n\n".join(r["text"] for r in list(read_rows(BROWN / "test" / "part_00.jsonl.zst"))[:12])


def test_short_texts_are_sent_whole(document):
    assert fit("short", "head", 100)[0].text == "short"
    assert fit(document, "none", 10)[0].text == document
    assert not head("short", 100).truncated


def test_head_cuts_at_a_paragraph_and_says_so(document):
    piece = head(document, 2000)
    body, note = piece.text.split("\n\n[... document truncated: ")
    assert piece.truncated and len(body) <= 2000 and len(body) >= 1600
    assert document.startswith(body)
    assert body[-1] in ".!?\"')" or document[len(body)] == "\n"  # a sentence or paragraph end
    assert note.startswith(f"the first {len(body):,} of {len(document):,} characters")


def test_paragraph_breaks_beat_sentence_ends():
    text = "First sentence. Second one.\n\nA new paragraph. " + "More words here. " * 20
    # the cut looks at the last fifth of the allowed length: paragraph, then line, sentence, space
    assert head(text, 32).text.startswith("First sentence. Second one.\n\n[... document truncated")
    assert head("One. Two. Three four five six seven", 10).text.startswith("One. Two.\n\n[...")
    assert head("alpha beta gamma delta epsilon", 20).text.startswith("alpha beta gamma\n\n[...")


def test_head_without_boundaries_cuts_hard():
    assert head("x" * 50, 10).text.startswith("x" * 10 + "\n\n[...")


def test_head_tail_keeps_both_ends(document):
    piece = head_tail(document, 2000)
    first, rest = piece.text.split("\n\n[... ", 1)
    omitted, last = rest.split(" characters omitted ...]\n\n")
    assert document.startswith(first) and document.endswith(last)
    assert int(omitted.replace(",", "")) == len(document) - len(first) - len(last)
    assert len(first) + len(last) <= 2000


def test_chunks_are_evenly_spaced_and_bounded(document):
    pieces = chunks(document, 1500, 4)
    assert [p.index for p in pieces] == [0, 1, 2, 3] and all(p.count == 4 for p in pieces)
    bodies = [p.text.split("characters]\n\n", 1)[1] for p in pieces]
    assert all(len(b) <= 1500 and b in document for b in bodies)
    starts = [document.index(b) for b in bodies]
    assert starts[0] == 0 and starts == sorted(starts)
    assert starts[-1] + len(bodies[-1]) >= len(document) - 300  # the last chunk reaches the end
    assert pieces[1].text.startswith(f"[excerpt 2 of 4 from a document of {len(document):,} characters]")
    assert len(chunks(document[:2500], 1500, 4)) == 2  # never more chunks than the text needs
    with pytest.raises(UsageError):
        chunks(document, 100, 0)
    with pytest.raises(UsageError):
        fit(document, "tail", 100)
