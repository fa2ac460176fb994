"""Shared training pieces: corpora, progress and checkpoints."""
