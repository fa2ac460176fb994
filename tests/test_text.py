import pytest

from ctxembed import InputError
from ctxembed.text.words import prepare, split_words


def test_split_words_offsets_point_into_text():
    text = "Don't panic: state-of-the-art café, 3.14 and 1,000 rows (ok)."
    words, offsets = split_words(text)
    assert words == [
        "Don't",
        "panic",
        ":",
        "state-of-the-art",
        "café",
        ",",
        "3.14",
        "and",
        "1,000",
        "rows",
        "(",
        "ok",
        ")",
        ".",
    ]
    assert [text[s:e] for s, e in offsets] == words


def test_combining_marks_stay_in_the_word_and_format_chars_split():
    words, _ = split_words("cafe\u0301 zero\u200bwidth")
    assert words == ["cafe\u0301", "zero", "width"]


def test_prepare_rejects_empty_and_wrong_types():
    with pytest.raises(InputError, match="text 1 is empty"):
        prepare(["ok", "  \n"])
    with pytest.raises(InputError, match="word 1 of text 0"):
        prepare([["a", " "]])
    with pytest.raises(InputError, match="text 0 is a int"):
        prepare([5])
    with pytest.raises(InputError):
        prepare(42)


def test_single_string_is_one_text():
    (doc,) = prepare("one text")
    assert doc.words == ["one", "text"]
