"""Session-scoped fixtures that train small real models once per test session."""
