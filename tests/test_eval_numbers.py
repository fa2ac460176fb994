"""Evaluation numbers that used to come from bugs, and reports that must stay consistent."""

import gzip

import numpy as np
import pytest
import torch

import ctxembed
from ctxembed import InputError, ModelError
from ctxembed.cli import main
from ctxembed.eval import classify, wic, wordsim
from ctxembed.eval.bench import run_bench
from ctxembed.eval.common import Cache, Context, model_key
from ctxembed.models.context2vec import (
    UNK,
    Context2VecConfig,
    Context2VecTrainConfig,
    train_context2vec,
)
from ctxembed.models.cove import MTLSTM, CoveConfig, CoveEmbedder
from ctxembed.models.static import StaticEmbedder
from ctxembed.train.corpus import sentences

from .conftest import wiki_lines
from .contract import TOL, assert_same


def ctx_for(embedder, name="m", limit=None):
    return Context(name, embedder, Cache(None, name), limit=limit, progress=False)


def quiet(models, tasks, **kw):
    return run_bench(models, tasks, progress=False, log=lambda m: None, **kw)


# -- WiC threshold ------------------------------------------------------------------------------
def test_threshold_reproduces_its_accuracy_on_equal_cosines():
    cos = np.array([0.5, 0.5, 0.5, 0.2])
    y = np.array([0, 1, 1, 0], dtype=bool)
    cut = wic.best_threshold(cos, y)
    # the best a real threshold can do: call the three 0.5s "same" and the 0.2 "different"
    assert ((cos > cut) == y).mean() == 0.75


def test_threshold_does_not_cut_inside_float_noise():
    # identical vectors: cosines 1 up to the last bits, labels that happen to follow the bits
    band = 1 + np.arange(-3, 4) * np.finfo(np.float64).eps
    cos = np.r_[band, [0.1, 0.2, 0.3]]
    y = np.r_[band > 1, [False, False, False]]
    cut = wic.best_threshold(cos, y)
    assert len(set(band > cut)) == 1
    assert ((cos > cut) == y).mean() == 0.7  # the band (4 of 7 "different") is one value


def write_wic(root, split, rows):
    """WiC files for (word a, word b, same) rows: each word is the target of its sentence."""
    root.mkdir(exist_ok=True)
    with gzip.open(root / f"{split}.data.txt.gz", "wt", encoding="utf-8") as f:
        for a, b, _ in rows:
            f.write(f"{a}\tN\t1-2\tsee {a} here\tnow see {b} here\n")
    (root / f"{split}.gold.txt").write_text("".join("T\n" if s else "F\n" for *_, s in rows))


def test_wic_threshold_is_stable_for_vectors_equal_up_to_float32_rounding(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    base = rng.normal(size=(40, 50)).astype(np.float32)
    bumped = base.copy()
    bumped[:, :5] = np.nextafter(bumped[:, :5], np.float32(np.inf))  # one float32 step
    far = rng.normal(size=(10, 50)).astype(np.float32)
    words = [f"a{i}" for i in range(40)] + [f"b{i}" for i in range(40)]
    words += [f"f{i}" for i in range(10)]
    model = StaticEmbedder(words, np.concatenate([base, bumped, far]))

    def cosines(a, b):
        a, b = a.astype(np.float64), b.astype(np.float64)
        return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)

    near = cosines(base, bumped)
    assert (1 - near < wic.TIE).all()  # equal up to rounding
    # labels that follow the float32 rounding of the cosines: a cut inside that band scores
    # them all right on train, and means nothing
    unit32 = base / np.linalg.norm(base, axis=1, keepdims=True)
    c32 = (unit32 * (bumped / np.linalg.norm(bumped, axis=1, keepdims=True))).sum(1)
    same = c32 > np.median(c32)
    assert 0 < same.sum() < 40
    rows = [(f"a{i}", f"b{i}", bool(s)) for i, s in enumerate(same)]
    rows += [(f"a{i}", f"f{i}", False) for i in range(10)]
    root = tmp_path / "wic"
    write_wic(root, "train", rows)
    # dev: the same pairs in another order with the sides swapped (another memory layout)
    write_wic(root, "dev", [(b, a, s) for a, b, s in reversed(rows)])
    monkeypatch.setattr(wic, "ROOT", root)
    res = wic.run(ctx_for(model))[0]
    cut, y = res.details["threshold"], np.array([s for *_, s in rows])
    # the best a threshold can do that treats equal vectors alike: the band's majority
    best = 100 * (max(same.sum(), 40 - same.sum()) + 10) / 50
    assert res.metrics["accuracy"] == best
    assert len(set(near > cut)) == 1
    cos = np.r_[near, cosines(base[:10], far)]
    assert res.details["train_accuracy"] == 100 * ((cos > cut) == y).mean() == best


# -- word similarity: contextual models drop unknown words as static ones do ---------------------
def untrained_cove(glove, part: str) -> CoveEmbedder:
    torch.manual_seed(0)
    cfg = CoveConfig(input_dim=glove.dim, hidden_dim=32)
    return CoveEmbedder(MTLSTM(glove.dim, 32), glove, cfg, part=part)


def test_wordsim_contextual_unknown_words_are_dropped_and_counted(glove6b):
    pairs = wordsim.read_pairs(wordsim.DATA / wordsim.SETS["ws353"])[:40]
    pairs += [("tiger", "zqxjvw", 8.0), ("qqzzkx", "cat", 1.0)]
    static = wordsim.evaluate(glove6b, pairs)
    assert static.oov_pairs == 2
    # the same GloVe vectors behind a contextual embedder: the same pairs and number
    glove_part = wordsim.evaluate(untrained_cove(glove6b, "glove"), pairs)
    assert (glove_part.pairs, glove_part.oov_pairs) == (static.pairs, static.oov_pairs)
    assert glove_part.spearman == pytest.approx(static.spearman, abs=TOL)
    # [GloVe; CoVe] of an unknown word is not zero, but the embedder reports it unknown
    both = wordsim.evaluate(untrained_cove(glove6b, "both"), pairs)
    assert (both.pairs, both.oov_pairs) == (static.pairs, 2)


def test_wordsim_a_set_with_too_few_known_pairs_is_empty_not_fatal(glove6b):
    pairs = wordsim.read_pairs(wordsim.DATA / wordsim.SETS["ws353"])
    rows = sorted({glove6b.lookup(w) for a, b, _ in pairs for w in (a, b)} - {None})
    small = StaticEmbedder([glove6b.words[r] for r in rows], glove6b.vectors[rows])
    res = {r.dataset: r for r in wordsim.run(ctx_for(small))}
    assert res["ws353"].details["oov_pairs"] == 0 and np.isfinite(res["ws353"].metrics["spearman"])
    few = [r for r in res.values() if r.details["pairs"] < 2]
    assert few and all(np.isnan(r.metrics["spearman"]) for r in few)
    with pytest.raises(InputError, match="fewer than 2 pairs"):
        wordsim.evaluate(small, [("tiger", "zqxjvw", 1.0), ("cat", "qqzzkx", 2.0)])


# -- context2vec validation MRR --------------------------------------------------------------
def test_context2vec_validation_mrr_averages_over_ranked_slots():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    lines, valid = wiki_lines(60), wiki_lines(12, split="valid")
    cfg = Context2VecTrainConfig(epochs=1, min_count=3, batch_size=16)
    small = Context2VecConfig(embed_dim=16, hidden_dim=16, out_dim=16)
    try:
        emb, hist = train_context2vec(lines, small, cfg, valid=valid, progress=False)
    finally:
        torch.set_num_threads(threads)
    # the slots of the validation text, ranked one by one on the final model
    vs = list(sentences(valid, cfg.max_len))
    order = sorted(range(len(vs)), key=lambda i: len(vs[i]))
    t = torch.nn.functional.normalize(emb.model.target.weight, dim=1)
    ranks, unknown = [], 0
    with torch.no_grad():
        for b in range(0, len(order), cfg.batch_size):
            batch = [vs[i] for i in order[b : b + cfg.batch_size]]
            c = emb.model(*emb._batch(batch))
            for r, s in enumerate(batch):
                for i, w in enumerate(s):
                    gold = emb._id(w)
                    if gold == emb.index[UNK]:
                        unknown += 1
                        continue
                    scores = t @ torch.nn.functional.normalize(c[r, i], dim=0)
                    ranks.append(int((scores > scores[gold]).sum()) + 1)
    assert unknown > 0.1 * (unknown + len(ranks))  # enough skipped slots to matter
    assert hist.valid[-1]["mrr"] == pytest.approx(np.mean(1 / np.array(ranks)), abs=TOL)


# -- CoVe layers: 0 is the context-free input, as in every family --------------------------------
def test_cove_layer_zero_is_the_glove_input(glove6b):
    text = [["the", "river", "bank", "zqxjvw"]]
    g = glove6b.embed_words(text)[0].vectors
    for part in ("both", "cove"):
        emb = untrained_cove(glove6b, part)
        assert emb.n_layers == 3
        wv = emb.embed_words(text, layers="all", return_layers=True)[0]
        assert_same(wv.layers[0, :, :50], g)
        assert not wv.layers[0, :, 50:].any()
        x, lengths, _ = emb.inputs(text)
        with torch.no_grad():
            h1, h2 = (h[0].numpy() for h in emb.encoder(x, lengths))
        for k, h in ((1, h1), (2, h2)):
            assert_same(wv.layers[k, :, -64:], h)
        assert_same(emb.embed_words(text)[0].vectors, wv.layers[2])  # default: the last
    with pytest.raises(ModelError, match="use part='both'"):
        CoveEmbedder(MTLSTM(50, 16), glove6b, CoveConfig(input_dim=50, hidden_dim=16), part="cove")


# -- the bench: names, cache keys, early errors ------------------------------------------------
def wic_glove(glove: StaticEmbedder, n: int) -> StaticEmbedder:
    """The rows of ``glove`` that the first ``n`` WiC pairs of each split use (small to save)."""
    pairs = wic.load("train")[:n] + wic.load("dev")[:n]
    rows = {glove.lookup(t) for p in pairs for t in p.a[0] + p.b[0]} - {None}
    rows = sorted(rows)
    return StaticEmbedder([glove.words[r] for r in rows], glove.vectors[rows])


@pytest.fixture(scope="module")
def glove_dir(glove6b, tmp_path_factory):
    """A saved GloVe folder with the rows of the first 30 WiC pairs (quick to load)."""
    path = tmp_path_factory.mktemp("models") / "glove"
    wic_glove(glove6b, 30).save(path)
    return path


def test_bench_keeps_two_models_with_the_same_folder_name(tmp_path, glove_dir):
    emb = untrained_cove(ctxembed.load(glove_dir), "both")
    for d in ("a", "b"):
        emb.save(tmp_path / d / "model")
    models = [str(tmp_path / "a" / "model"), str(tmp_path / "b" / "model"), str(glove_dir)]
    bench = quiet(models, "wic", limit=20)
    assert bench.models == ["a/model", "b/model", "glove"]
    threshold = {r.model: r for r in bench.results if r.protocol.startswith("cosine")}
    assert set(threshold) == {"a/model", "b/model", "glove"}
    # layer 0 of CoVe is its GloVe input: the same WiC threshold figure as GloVe itself
    per_layer = threshold["a/model"].details["per_layer"]
    assert set(per_layer) == {"0", "1", "2", "mean"}
    assert per_layer["0"]["threshold"] == threshold["glove"].metrics["accuracy"]
    from ctxembed.eval import report

    report.write(bench, tmp_path / "out", "test", 1.0)
    md = (tmp_path / "out" / "results.md").read_text()
    assert "### a/model" in md and "### b/model" in md and "| 0 (input) |" in md
    assert {p.name for p in (tmp_path / "out").glob("*.png")} == {
        "layers-a_model.png",
        "layers-b_model.png",
    }
    with pytest.raises(InputError, match="given more than once"):
        quiet([models[0], str(tmp_path / "b" / ".." / "a" / "model")], "wic", limit=5)


def test_cache_key_holds_version_and_load_options(tmp_path, monkeypatch, glove_dir):
    key = model_key("glove-6b-50d")
    assert model_key("glove-6b-50d", {"lowercase_fallback": False}) != key
    monkeypatch.setattr(ctxembed, "__version__", "0.0.0-other")
    assert model_key("glove-6b-50d") != key
    monkeypatch.undo()
    cache, model = tmp_path / "cache", [str(glove_dir)]
    first = quiet(model, "wic", limit=20, cache_dir=cache)
    again = quiet(model, "wic", limit=20, cache_dir=cache)
    other = quiet(model, "wic", limit=20, cache_dir=cache, options={"lowercase_fallback": False})
    assert (first.cache_hits, again.cache_hits, other.cache_hits) == (0, 2, 0)
    # the options change the vectors (WiC has capitalised words): sharing would be wrong
    assert other.results[0].metrics != first.results[0].metrics


def test_bench_reports_a_model_typo_before_running_any(tmp_path, capsys):
    logged = []
    with pytest.raises(ModelError, match="unknown model 'glove-6b-5Od'.*Known models"):
        run_bench(["glove-6b-50d", "glove-6b-5Od"], "wic", limit=5, log=logged.append)
    assert logged == []
    args = ["bench", "--models", "glove-6b-50d,glove-6b-5Od", "--tasks", "wic", "--limit", "5"]
    assert main([*args, "--out", str(tmp_path / "o"), "--no-cache", "--quiet"]) == 1
    out, err = capsys.readouterr()
    assert "loaded" not in out and "unknown model 'glove-6b-5Od'" in err
    assert not (tmp_path / "o").exists()


# -- classification: TREC's folds and the protocol's name ----------------------------------------
def test_trec_chooses_c_by_5_fold_cv_and_names_its_protocol(glove6b):
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    ctx = ctx_for(glove6b, limit=300)
    acc, split, details = classify.evaluate(ctx, "trec")
    texts, y = classify._limit(ctx, *classify.load("trec")["train"], np.random.default_rng(0))
    search = GridSearchCV(
        classify._model(),
        {"logisticregression__C": classify.C_GRID},
        cv=StratifiedKFold(5, shuffle=True, random_state=0),
    ).fit(ctx.sentence_vectors(texts, "trec train"), y)
    assert details["C"] == search.best_params_["logisticregression__C"]
    assert details["cv_accuracy"] == pytest.approx(100 * search.best_score_, abs=TOL)
    assert classify.protocol("trec") == (
        "logistic regression on standardised frozen sentence vectors, C in {0.01, 0.1, 1} "
        "chosen by 5-fold CV on train"
    )
    assert classify.protocol("sst2").endswith("chosen on dev")
