"""Errors a user can cause. The CLI prints their message and exits 1; nothing else is caught."""


class CtxembedError(Exception):
    """A mistake in what the user handed in: the message says what and how to fix it."""


class InputError(CtxembedError, ValueError):
    """Bad text, words, indices or options."""


class ModelError(CtxembedError):
    """A model that cannot be found, read or used for the request."""


class OutOfVocabularyError(CtxembedError, KeyError):
    """A word a static model has no vector for, under the ``oov="error"`` policy."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0] if self.args else ""
