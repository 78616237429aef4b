"""Evaluation: metrics (pure functions), results files, plots and HTML reports, calibration.

Modules are imported directly (``bonepick.evaluate.metrics`` ...) so that importing this package
stays cheap; scikit-learn, scipy and matplotlib are loaded only by the functions that need them.
"""
