"""Session fixtures: small fasttext models trained once per test session on tests/data."""
