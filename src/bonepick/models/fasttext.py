"""fastText classifiers: load a ``.bin``/``.ftz`` through the in-process bindings
(``fasttext-numpy2-wheel``, import name ``fasttext``) and score texts with every label's probability.

A folder written by ``train-fasttext`` has a card; a model trained elsewhere (a published quality
classifier ``.bin`` dropped into a folder) gets one from :func:`card_for_foreign_model`, which the
caller fills with the normalizer the model expects.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bonepick.errors import MissingDependencyError, ModelError
from bonepick.models.base import Classifier
from bonepick.models.card import ModelCard

if TYPE_CHECKING:
    from bonepick.data.preprocess import TextPreparer

LABEL_PREFIX = "__label__"
MODEL_FILE = "model.bin"
QUANTIZED_FILE = "model.ftz"
MODEL_SUFFIXES = (".bin", ".ftz")

#: fastText reports exp(log(p + 1e-5)) for every label; we take the smoothing back out
_SMOOTHING = 1e-5


def import_fasttext() -> Any:
    """The fastText bindings, with a clear message when they are missing."""
    try:
        import fasttext
    except ImportError:  # pragma: no cover - the package is a core dependency
        raise MissingDependencyError("fasttext-numpy2-wheel", purpose="fastText models") from None
    return fasttext


def strip_prefix(label: str) -> str:
    return label[len(LABEL_PREFIX) :] if label.startswith(LABEL_PREFIX) else label


def find_model_file(model_dir: Path, card: ModelCard | None = None) -> Path:
    """The fastText file of a model folder: the card's ``extra.model_file``, else ``model.bin``,
    else ``model.ftz``, else the only ``.bin``/``.ftz`` file in the folder."""
    model_dir = Path(model_dir)
    if model_dir.is_file():
        return model_dir
    named = (card.extra.get("model_file") if card else None) or None
    if named:
        path = model_dir / named
        if not path.is_file():
            raise ModelError(f"{model_dir}: the card names '{named}' but that file is missing")
        return path
    for name in (MODEL_FILE, QUANTIZED_FILE):
        if (model_dir / name).is_file():
            return model_dir / name
    candidates = sorted(p for p in model_dir.iterdir() if p.is_file() and p.suffix in MODEL_SUFFIXES)
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise ModelError(
            f"{model_dir} holds no fastText model file (.bin or .ftz)",
            hint="pass a folder written by train-fasttext, or one with a single fastText .bin",
        )
    raise ModelError(
        f"{model_dir} holds several fastText files ({', '.join(p.name for p in candidates)})",
        hint="keep one model file per folder, or name it model.bin",
    )


#: characters Python's ``str.split()`` (so ``clean_text``) treats as whitespace and fastText does
#: not (fastText splits on ASCII space, \t, \v, \f, \r and NUL itself; \n ends its line)
_FOREIGN_SPACES = ("\x1c", "\x1d", "\x1e", "\x1f", "\x85", "\xa0", "\u1680", *map(chr, range(0x2000, 0x200B)))
_FOREIGN_SPACES += ("\u2028", "\u2029", "\u202f", "\u205f", "\u3000")


def one_line(text: str) -> str:
    """The text as convert-to-fasttext writes it (``clean_text``), tokenized the same by fastText.

    Text that fastText tokenizes like its cleaned form once its newlines are spaces is returned
    so: no literal ``__label__`` and no whitespace that Python splits on but fastText does not (Unicode spaces,
    the separators \\x1c-\\x1f). Those checks are substring tests (the Unicode spaces only for
    non-ASCII text), so the common case costs next to nothing; newlines become spaces, and
    anything else goes through the converter's own cleaning.
    """
    if "__label__" not in text and (
        ("\x1c" not in text and "\x1d" not in text and "\x1e" not in text and "\x1f" not in text)
        if text.isascii()
        else not any(char in text for char in _FOREIGN_SPACES)
    ):
        return text.replace("\n", " ") if "\n" in text else text
    from bonepick.data.fasttext_format import clean_text

    return clean_text(text)


def one_lines(texts: Sequence[str]) -> list[str]:
    """:func:`one_line` of every text, each with fastText's end-of-line ``\\n`` appended.

    The ASCII texts of the batch are checked at once, joined into one string (C-speed substring
    scans for a literal ``__label__`` and the separators \\x1c-\\x1f, possibly found across
    two texts): when none is there, their newlines become spaces and that is all. Non-ASCII
    texts (which would widen the joined string) and any batch where a scan finds something go
    text by text through :func:`one_line`.
    """
    flags = list(map(str.isascii, texts))
    joined = "".join(itertools.compress(texts, flags))
    if "__label__" in joined or any(char in joined for char in _FOREIGN_SPACES[:4]):
        return [one_line(text) + "\n" for text in texts]
    return [
        text.replace("\n", " ") + "\n" if ascii_text else one_line(text) + "\n"
        for text, ascii_text in zip(texts, flags, strict=True)
    ]


# One loaded model is kept so that card_for_foreign_model() followed by load_model() reads a
# (possibly 1 GB) file only once.
_cache_lock = threading.Lock()
_cache: dict[str, tuple[tuple[int, int], Any]] = {}


def load_fasttext_file(path: Path) -> Any:
    """Load a fastText model file, turning the bindings' errors into :class:`ModelError`."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"no such fastText model file: {path}")
    stat = path.stat()
    key, stamp = str(path.resolve()), (stat.st_mtime_ns, stat.st_size)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
    fasttext = import_fasttext()
    try:
        model = fasttext.load_model(str(path))
    except (ValueError, RuntimeError, MemoryError) as error:
        raise ModelError(
            f"{path} is not a fastText model ({error})",
            hint="pass a .bin or .ftz file written by fastText (train-fasttext, quantize-fasttext)",
        ) from None
    if model.f.getArgs().model.name != "supervised":
        raise ModelError(
            f"{path} is an unsupervised fastText model (word vectors), not a classifier",
            hint="word vectors can be used with train-fasttext --pretrained-vectors",
        )
    with _cache_lock:
        _cache.clear()
        _cache[key] = (stamp, model)
    return model


def model_labels(model: Any) -> list[str]:
    return [strip_prefix(label) for label in model.labels]


def model_hyperparameters(model: Any) -> dict[str, Any]:
    """The training arguments a fastText file records."""
    args = model.f.getArgs()
    return {
        "learning_rate": round(float(args.lr), 6),
        "word_ngrams": int(args.wordNgrams),
        "min_count": int(args.minCount),
        "epoch": int(args.epoch),
        "bucket": int(args.bucket),
        "min_char_ngram": int(args.minn),
        "max_char_ngram": int(args.maxn),
        "window_size": int(args.ws),
        "dimension": int(args.dim),
        "loss": args.loss.name,
        "num_negatives": int(args.neg),
    }


def card_for_foreign_model(
    model_dir: str | Path, normalizer: str | None, max_length: int | None = None
) -> ModelCard:
    """A card for a fastText classifier trained elsewhere (no ``bonepick_model.yaml``).

    ``normalizer`` must be the preprocessing the model was trained with (bonepick cannot know
    it); labels come from the model file, in sorted order.
    """
    model_dir = Path(model_dir)
    if not model_dir.exists():
        raise ModelError(f"no such model folder: {model_dir}")
    path = find_model_file(model_dir)
    model = load_fasttext_file(path)
    labels = sorted(model_labels(model))
    if not labels:
        raise ModelError(f"{path} has no labels; it cannot classify")
    return ModelCard(
        kind="fasttext",
        task="classification",
        labels=labels,
        normalizer=normalizer,
        max_length=max_length,
        hyperparameters=model_hyperparameters(model),
        extra={
            "model_file": path.name if path.parent == model_dir else str(path),
            "foreign": True,
            "quantized": bool(model.is_quantized()),
        },
    )


class FastTextClassifier(Classifier):
    """Probabilities for every label of the card, in ``card.labels`` order."""

    def __init__(self, model_dir: Path, card: ModelCard, model: Any, model_file: Path) -> None:
        super().__init__(model_dir, card)
        self.model = model
        self.model_file = model_file
        self._column = {LABEL_PREFIX + label: i for i, label in enumerate(card.labels)}

    @classmethod
    def load(cls, model_dir: Path, card: ModelCard) -> FastTextClassifier:
        model_dir = Path(model_dir)
        path = find_model_file(model_dir, card)
        model = load_fasttext_file(path)
        labels = model_labels(model)
        if not card.labels:
            card.labels = sorted(labels)
        elif set(card.labels) != set(labels):
            raise ModelError(
                f"{path}: the model's labels ({', '.join(sorted(labels))}) differ from the card's "
                f"({', '.join(card.labels)})",
                hint="the card and the model file come from different trainings; retrain or fix the card",
            )
        return cls(model_dir, card, model, path)

    def text_preparer(self, normalizer: str | None, max_length: int | None) -> TextPreparer:
        """The whitespace normalizer is skipped when no max length cuts the text after it: it
        only collapses whitespace runs, and fastText splits on whitespace itself (what it does
        not split on, :func:`one_line` cleans exactly as the converter), so the tokens and the
        scores are the same without that pass over every text."""
        from bonepick.data.normalizers import canonical_name
        from bonepick.data.preprocess import TextPreparer

        if normalizer and not max_length and canonical_name(normalizer) == "whitespace":
            return TextPreparer(None, None)
        return super().text_preparer(normalizer, max_length)

    def predict_prepared(self, texts: Sequence[str]) -> np.ndarray:
        # one_line() leaves no newline inside, so the bindings' multilinePredict is called directly
        # (what model.predict(list) does after checking every text for one); the trailing newline
        # is fastText's end-of-line token, part of every prediction's input
        return self._probabilities(one_lines(texts))

    def predict_fasttext_lines(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities for texts read from the lines of a fastText-format file (labels cut
        off): fastText reads them as they are, as it read its training file, so they skip
        :func:`one_line` (eval of a converted ``test.txt`` goes through here)."""
        return self._probabilities([text + "\n" for text in texts])

    def _probabilities(self, lines: list[str]) -> np.ndarray:
        """The (rows, labels) probability matrix of newline-terminated single lines."""
        out = np.zeros((len(lines), len(self._column)), dtype=np.float32)
        if not lines:
            return out
        all_labels, all_probs = self.model.f.multilinePredict(lines, -1, 0.0, "strict")
        column = self._column
        width = len(all_labels[0])
        if all(len(labels) == width for labels in all_labels):  # every label, every row: at once
            flat = itertools.chain.from_iterable(all_labels)
            columns = np.fromiter(map(column.__getitem__, flat), np.intp, len(lines) * width)
            out[np.repeat(np.arange(len(lines)), width), columns] = np.concatenate(all_probs)
        else:
            for row, (labels, probs) in enumerate(zip(all_labels, all_probs, strict=True)):
                out[row, [column[label] for label in labels]] = probs
        out -= _SMOOTHING
        np.clip(out, 0.0, 1.0, out=out)
        return out
