"""ctxembed: static and contextual word embeddings behind one API.

Layers, top to bottom; a module imports only from its own layer or those below it:

    cli                      the command line (a dispatcher)
    embedfile, compare, eval the commands and the benchmarks (eval uses public names only)
    families                 the registry and load(); finds models/ by module name, so no
                             import statement points down to a family and there is no cycle
    models/                  one module per family, ending in its FAMILY; never eval/ (a
                             trainer or export handler, and USE's init vectors, call
                             families.load to open another model)
    train/                   corpora, the training loop, the trainers' shared options
    embedder, options        the interface (Embedder, results, Family), shared option types
    text/, io, errors, ...   words, batching, files, errors, assets, datasets
"""

__version__ = "0.1.0"

from .embedder import Embedder, ScalarMix, WordVectors  # noqa: E402
from .errors import (  # noqa: E402
    CtxembedError,
    InputError,
    ModelError,
    OutOfVocabularyError,
    TrainingError,
)
from .families import available, load  # noqa: E402

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
