"""The package pipeline: checks (CPU-bound, in worker processes), then ingest (async)."""
