import numpy as np
import pytest

from ctxembed import InputError
from ctxembed.models.word2vec import Word2VecConfig, train_word2vec
from ctxembed.train.corpus import Corpus

from .conftest import wiki_lines


def test_trains_and_is_reproducible_with_one_worker():
    corpus = Corpus(wiki_lines(300))
    cfg = Word2VecConfig(dim=16, window=3, min_count=3, epochs=1, workers=1, seed=7)
    a = train_word2vec(corpus, cfg, progress=False)
    b = train_word2vec(corpus, cfg, progress=False)
    assert a.family == "word2vec" and a.dim == 16 and "the" in a
    np.testing.assert_array_equal(a.vectors, b.vectors)
    c = train_word2vec(corpus, Word2VecConfig(**{**cfg.__dict__, "seed": 8}), progress=False)
    assert not np.allclose(a.vectors, c.vectors)


def test_cbow_and_skipgram_both_train():
    corpus = Corpus(wiki_lines(200))
    for sg in (True, False):
        m = train_word2vec(
            corpus, Word2VecConfig(dim=8, min_count=2, epochs=1, sg=sg, workers=1), progress=False
        )
        assert m.config["training"]["sg"] is sg and np.isfinite(m.vectors).all()


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
