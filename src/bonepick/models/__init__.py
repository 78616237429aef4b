"""Model kinds behind one interface: a card that describes a model folder, and a classifier that
scores raw texts with the card's preprocessing applied."""

from bonepick.models.base import Classifier, load_model, register_kind
from bonepick.models.card import CARD_FILE, ModelCard

__all__ = ["CARD_FILE", "Classifier", "ModelCard", "load_model", "register_kind"]
