"""Evaluation tasks, one module per task; each is ``(embedder, data, **opts) -> result``."""
