"""Session fixtures: small model2vec models trained once per test session on tests/data."""
