"""LLM annotation: prompts, an OpenAI-compatible client, the SQLite cache, rate limits, the runner
(a pipeline step, so annotation resumes like any stage), the Batch API, summaries and agreement.

Submodules are imported where they are used; this package imports nothing heavy.
"""
