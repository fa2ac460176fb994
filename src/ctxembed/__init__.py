"""ctxembed: static and contextual word embeddings behind one API."""

__version__ = "0.1.0"

from .api import Embedder, ScalarMix, WordVectors, available, load  # noqa: E402
from .errors import CtxembedError, InputError, ModelError, OutOfVocabularyError  # noqa: E402

__all__ = [
    "CtxembedError",
    "Embedder",
    "InputError",
    "ModelError",
    "OutOfVocabularyError",
    "ScalarMix",
    "WordVectors",
    "available",
    "load",
]
