"""ctxembed: static and contextual word embeddings behind one API."""

__version__ = "0.1.0"

from .api import Embedder, ScalarMix, WordVectors, available, load  # noqa: E402
from .errors import (  # noqa: E402
    CtxembedError,
    InputError,
    ModelError,
    OutOfVocabularyError,
    TrainingError,
)

__all__ = [
    "CtxembedError",
    "Embedder",
    "InputError",
    "ModelError",
    "OutOfVocabularyError",
    "ScalarMix",
    "TrainingError",
    "WordVectors",
    "available",
    "load",
]
