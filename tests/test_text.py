import re

import pytest

from ctxembed import InputError
from ctxembed.text.windows import window_pieces, windows
from ctxembed.text.words import prepare, raw_strings, split_words


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
    with pytest.raises(InputError, match="text 0 is of type int"):
        prepare([5])
    with pytest.raises(InputError):
        prepare(42)


@pytest.mark.parametrize(
    "text", ["  \n", "\u200b\ufeff", "\ue000", "\x00\x07", ".", "a", "3.14", "\u65e5", "\U0001f600"]
)
def test_raw_strings_refuses_what_prepare_refuses(text):
    # raw_strings checks without splitting: it must agree with prepare on every text
    try:
        prepare(["ok", text])
    except InputError as e:
        with pytest.raises(InputError, match=re.escape(str(e))):
            raw_strings(["ok", text])
    else:
        assert raw_strings(["ok", text]) == ["ok", text]


def test_a_lone_surrogate_is_refused():
    # JSON allows "\ud800"; the Rust tokenizers raise a bare TypeError on it
    for check in (prepare, raw_strings):
        with pytest.raises(InputError, match="text 1 holds a lone surrogate"):
            check(["ok", "a \ud800 b"])
    with pytest.raises(InputError, match="word 1 of text 0 holds a lone surrogate"):
        prepare([["a", "b\udcff"]])


def test_raw_strings_leaves_word_lists_and_bad_types_to_prepare():
    assert raw_strings("one") == ["one"] and raw_strings([]) == []
    for texts in ([["a", "b"]], ["a", ["b"]], b"", b"ab", 42, (t for t in ["a"])):
        assert raw_strings(texts) is None


def test_single_string_is_one_text():
    (doc,) = prepare("one text")
    assert doc.words == ["one", "text"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我爱北京。", ["我", "爱", "北", "京", "。"]),
        ("日本語のテキスト", ["日", "本", "語", "の", "テ", "キ", "ス", "ト"]),
        (
            "コーヒー",
            ["コ", "ー", "ヒ", "ー"],
        ),  # the long-vowel mark is kana, not a word of its own
        ("ภาษาไทย", ["ภ", "า", "ษ", "า", "ไ", "ท", "ย"]),
        ("ที่นี่", ["ที่", "นี่"]),  # Thai vowel and tone marks stay on their consonant
        ("ພາສາລາວ", ["ພ", "າ", "ສ", "າ", "ລ", "າ", "ວ"]),
        ("ខ្មែរ", ["ខ្", "មែ", "រ"]),
        ("မြန်မာ", ["မြ", "န်", "မာ"]),
        ("བོད་", ["བོ", "ད", "་"]),
        ("한국어 문장", ["한국어", "문장"]),  # Hangul is written with spaces: words stay whole
    ],
)
def test_scripts_without_spaces_split_into_characters(text, expected):
    words, offsets = split_words(text)
    assert words == expected
    assert [text[s:e] for s, e in offsets] == words


def test_mixed_scripts_keep_latin_words_and_numbers_whole():
    text = "在2024年用Python 3.14写state-of-the-art代码，don't panic: ๑๒ ok"
    words, offsets = split_words(text)
    assert words == [
        "在", "2024", "年", "用", "Python", "3.14", "写", "state-of-the-art", "代", "码", "，",
        "don't", "panic", ":", "๑๒", "ok",
    ]  # fmt: skip
    assert [text[s:e] for s, e in offsets] == words


def test_windows_cover_every_token_once():
    for n, size in [(5, 10), (10, 10), (11, 10), (1000, 100), (1001, 7)]:
        wins = windows(n, size)
        owned = [t for s, e, a, b in wins for t in range(a, b)]
        assert owned == list(range(n))
        assert all(e - s == min(size, n) and s <= a <= b <= e for s, e, a, b in wins)


def test_window_pieces_cover_every_item_once_longest_first():
    lengths = [3, 250, 0, 40]
    for size in (None, 16):
        pieces = window_pieces(lengths, size)
        assert [e - s for _, s, e, _, _ in pieces] == sorted(
            (e - s for _, s, e, _, _ in pieces), reverse=True
        )
        for i, n in enumerate(lengths):
            owned = sorted(t for j, _, _, a, b in pieces if j == i for t in range(a, b))
            assert owned == list(range(n))
    assert (
        len(window_pieces(lengths, None)) == 4
        and max(e - s for _, s, e, _, _ in window_pieces(lengths, 16)) == 16
    )
