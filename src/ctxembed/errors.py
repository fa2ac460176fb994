"""Errors a user can cause. The CLI prints their message and exits 1; nothing else is caught."""


class CtxembedError(Exception):
    """A mistake in what the user handed in: the message says what and how to fix it."""


class InputError(CtxembedError, ValueError):
    """Bad text, words, indices or options."""


class ModelError(CtxembedError):
    """A model that cannot be found, read or used for the request."""


class TrainingError(CtxembedError):
    """Training that cannot go on: the loss became NaN or infinite (a learning rate too high)."""


def diverged(step: str, loss: float) -> TrainingError:
    return TrainingError(
        f"training diverged at {step}: the loss is {loss}; nothing was saved (the last "
        "checkpoint, if any, is kept). Lower the learning rate (--lr) and start again"
    )


class OutOfVocabularyError(CtxembedError, KeyError):
    """A word a static model has no vector for, under the ``oov="error"`` policy."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0] if self.args else ""


class MissingExtraError(CtxembedError, ImportError):
    """A feature whose optional dependencies (a pip extra) are not installed."""


def require(extra: str, *modules: str) -> None:
    """Import ``modules`` or name the extra that installs them (core ctxembed embeds only)."""
    import importlib

    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            raise MissingExtraError(
                f"this needs {module}, which the core install leaves out: "
                f'pip install "ctxembed[{extra}]"'
            ) from None
