import numpy as np
import pytest

from ctxembed import InputError
from ctxembed.models.word2vec import Word2VecConfig, train_word2vec
from ctxembed.train.corpus import Corpus

from .conftest import wiki_lines
from .contract import assert_same


def test_trains_and_is_reproducible_with_one_worker():
    corpus = Corpus(wiki_lines(300))
    cfg = Word2VecConfig(dim=16, window=3, min_count=3, epochs=1, workers=1, seed=7)
    a = train_word2vec(corpus, cfg, progress=False)
    b = train_word2vec(corpus, cfg, progress=False)
    assert a.family == "word2vec" and a.dim == 16 and "the" in a
    np.testing.assert_array_equal(a.vectors, b.vectors)
    c = train_word2vec(corpus, Word2VecConfig(**{**cfg.__dict__, "seed": 8}), progress=False)
    assert not np.allclose(a.vectors, c.vectors)


def test_cbow_skipgram_and_window_reach_gensim():
    from gensim.models import Word2Vec

    lines = wiki_lines(200)
    out = {}
    for sg, window in ((True, 2), (False, 2), (True, 5)):
        cfg = Word2VecConfig(dim=8, window=window, min_count=2, epochs=2, sg=sg, workers=1)
        m = train_word2vec(Corpus(lines), cfg, progress=False)
        # gensim called directly with the same options, one worker and one seed: identical
        # vectors, so every option reaches the trainer (not only the saved config)
        ref = Word2Vec(
            lines,
            vector_size=8,
            window=window,
            min_count=2,
            sg=int(sg),
            negative=5,
            epochs=2,
            seed=0,
            workers=1,
        )
        assert m.words == ref.wv.index_to_key
        assert_same(m.vectors, ref.wv.vectors)
        out[sg, window] = m.vectors
    assert not np.allclose(out[True, 2], out[False, 2], atol=1e-3)  # CBOW is not skip-gram
    assert not np.allclose(out[True, 2], out[True, 5], atol=1e-3)  # the window matters


def test_skipgram_learns_related_words():
    cfg = Word2VecConfig(dim=50, window=5, min_count=5, epochs=5, workers=1)
    model = train_word2vec(Corpus(wiki_lines(3000)), cfg, progress=False)
    near = [w for w, _ in model.most_similar("he", 10)]
    assert "she" in near


def test_corpus_errors(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(InputError, match="empty"):
        Corpus(empty)
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("good line\ncaf\xe9 au lait\n".encode("latin-1"))
    with pytest.raises(InputError, match="line 2: not valid UTF-8"):
        list(Corpus(bad))
    with pytest.raises(InputError, match="no such corpus"):
        Corpus(tmp_path / "missing.txt")
