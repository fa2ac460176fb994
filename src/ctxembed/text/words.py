"""The one word tokenizer used for raw text, and the checks on pre-tokenized input.

A word is one of:
- a number with inner separators: ``3.14``, ``1,000``, ``12:30``;
- one character (with its combining marks) of a script written without spaces between
  words: Han, Hiragana, Katakana, Thai, Lao, Khmer, Myanmar, Tibetan. ``日本語`` is three
  words, as word-level benchmarks count Chinese; Hangul is written with spaces and keeps
  its words whole;
- a run of other letters, digits, combining marks and underscores, optionally joined by
  inner apostrophes or hyphens: ``bank``, ``don't``, ``state-of-the-art``, ``café``;
- any other single visible character: ``.``, ``(``, ``$``, ``。``, an emoji.

Whitespace, control and format characters (zero-width space, BOM, ...) separate words
and never form one. Offsets are ``(start, end)`` character indices into the text, so
``text[start:end] == word``.
"""

from __future__ import annotations

from collections.abc import Sequence

import regex

# a letter of a script written without word spaces (Script_Extensions, so that the kana
# long-vowel mark, Common script, counts as kana); digits stay numbers, marks stay on their
# letter. Set differences need regex V1; ASCII is listed first so English splits at the old speed.
_SOLO = (
    r"[[\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}\p{scx=Thai}\p{scx=Lao}\p{scx=Khmer}"
    r"\p{scx=Myanmar}\p{scx=Tibetan}]--[\p{Nd}\p{M}]]"
)
_LETTER = rf"[a-zA-Z0-9_[[\p{{L}}\p{{N}}\p{{M}}_]--{_SOLO}]]"
_WORD = regex.compile(
    r"\p{N}+(?:[.,:]\p{N}+)+"
    rf"|{_LETTER}+(?:['’\-]{_LETTER}+)*"
    rf"|{_SOLO}\p{{M}}*"
    r"|[^\s\p{L}\p{N}\p{M}_\p{C}]",
    regex.V1,
)


def split_words(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Split raw text into words and their character offsets (``text[s:e] == word``).

    Latin, Cyrillic, Korean, ... words are runs of letters; Chinese, Japanese, Thai, Lao,
    Khmer, Myanmar and Tibetan text, written without spaces, is split into single
    characters (each with its combining marks), the usual convention for Chinese in
    word-level benchmarks: ``split_words("我爱北京")[0] == ["我", "爱", "北", "京"]``.
    """
    words: list[str] = []
    offsets: list[tuple[int, int]] = []
    for m in _WORD.finditer(text):
        words.append(m.group())
        offsets.append(m.span())
    return words, offsets


class Doc:
    """One input text as words, with offsets when it came in as a raw string."""

    __slots__ = ("words", "offsets")

    def __init__(self, words: list[str], offsets: list[tuple[int, int]] | None):
        self.words = words
        self.offsets = offsets


def prepare(texts: str | Sequence[str] | Sequence[Sequence[str]]) -> list[Doc]:
    """Turn raw strings or pre-tokenized word lists into docs, rejecting bad input.

    A single string counts as one text. Raises ``InputError`` naming the first bad text.
    """
    from ..errors import InputError

    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, Sequence) or isinstance(texts, bytes):
        raise InputError(
            f"texts must be a list of strings or of word lists, got {type(texts).__name__}"
        )
    docs: list[Doc] = []
    for i, text in enumerate(texts):
        if isinstance(text, str):
            _check_unicode(text, f"text {i}")
            words, offsets = split_words(text)
            if not words:
                raise _empty(i, text)
            docs.append(Doc(words, offsets))
        elif isinstance(text, Sequence) and not isinstance(text, bytes):
            if len(text) == 0:
                raise InputError(f"text {i} is empty (an empty word list)")
            for j, word in enumerate(text):
                if not isinstance(word, str):
                    raise InputError(
                        f"word {j} of text {i} is of type {type(word).__name__}, not a string"
                    )
                if not word.strip():
                    raise InputError(f"word {j} of text {i} is empty or only whitespace")
                _check_unicode(word, f"word {j} of text {i}")
            docs.append(Doc(list(text), None))
        else:
            raise InputError(
                f"text {i} is of type {type(text).__name__}; give a string or a list of words"
            )
    return docs


def raw_strings(texts: str | Sequence[str] | Sequence[Sequence[str]]) -> list[str] | None:
    """``texts`` as a list when every text is a raw string, refusing a text with no words as
    ``prepare`` does but without splitting the texts into words; ``None`` when any text is
    not a string (``prepare`` then checks it). For models that read raw text whole."""
    if isinstance(texts, str):
        texts = [texts]
    if isinstance(texts, bytes) or not isinstance(texts, Sequence):
        return None
    if not all(isinstance(t, str) for t in texts):
        return None
    for i, text in enumerate(texts):
        _check_unicode(text, f"text {i}")
        if _WORD.search(text) is None:  # the first word is enough to know there is one
            raise _empty(i, text)
    return list(texts)


def _empty(i: int, text: str) -> Exception:
    from ..errors import InputError

    return InputError(f"text {i} is empty (no words in {text[:40]!r})")


def _check_unicode(text: str, where: str) -> None:
    """Refuse a lone surrogate (a JSON ``"\\ud800"`` escape, or bytes decoded with
    ``surrogateescape``): it is not text, and the Rust tokenizers cannot take it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        from ..errors import InputError

        raise InputError(
            f"{where} holds a lone surrogate ({text[e.start]!r} at character {e.start}), "
            "which is not text: decode its bytes with errors='replace'"
        ) from None
