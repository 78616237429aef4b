"""Scoring a corpus with a trained model (``infer``), choosing score thresholds and filtering."""

from bonepick.infer.filter import ScoreFilterStep, filter_documents
from bonepick.infer.run import InferResult, infer
from bonepick.infer.step import InferStep
from bonepick.infer.thresholds import ThresholdReport, compute_thresholds

__all__ = [
    "ScoreFilterStep",
    "InferResult",
    "InferStep",
    "ThresholdReport",
    "compute_thresholds",
    "filter_documents",
    "infer",
]
