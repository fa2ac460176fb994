"""Lexical substitution (SemEval-2007 LST, CoInCo): rank the gold candidates of a word in context.

The ranking task of Thater et al. (2010) and Melamud et al. (2015, 2016): for every instance
the candidates are all gold substitutes of its target lemma over the whole data set; a
model orders them and is scored by GAP (generalized average precision, Kishida 2005)
against the annotators' weights. Multi-word substitutes are dropped from both the gold and
the candidates (a word embedding has no vector for them), instances left without gold are
skipped; a candidate the model does not know is ranked last.

Scorers:
- ``random``: the mean GAP of 10 seeded random orders (the floor);
- a static model: ``t2t``, cosine of the target lemma and the candidate (no context);
- context2vec: ``c2t``, cosine of the slot's context vector and the candidate's target
  embedding (the paper's measure), and ``c2t*t2t``, the product of both cosines shifted to
  [0, 1] (context and target word together, after Melamud et al. 2015).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..io import read_lines
from .common import DATA, Context, Result, TaskNotApplicable, checksum

ROOT = DATA / "lexsub"
SETS = {
    # name: (instances, gold, candidates)
    "lst-test": ("lst_test.preprocessed.gz", "lst_test.gold.gz", "lst.gold.candidates.gz"),
    "coinco-test": (
        "coinco_test.no_problematic.preprocessed.gz",
        "coinco_all.no_problematic.gold.gz",
        "coinco.no_problematic.candidates.gz",
    ),
}


@dataclass
class Instance:
    target: str  # lemma.pos
    tokens: list[str]
    index: int
    gold: dict[str, float]  # substitute -> annotator count
    candidates: list[str]


def load(name: str) -> list[Instance]:
    inst_file, gold_file, cand_file = (ROOT / f for f in SETS[name])
    gold: dict[str, dict[str, float]] = {}
    for n, line in read_lines(gold_file):
        head, sep, subs = line.partition(" :: ")
        if not sep:
            raise InputError(f"{gold_file}, line {n}: expected 'target.pos id :: sub count;...'")
        weights = {}
        for item in subs.split(";"):
            word, _, count = item.strip().rpartition(" ")
            if word and " " not in word:
                weights[word] = weights.get(word, 0.0) + float(count)
        gold[head.split()[1]] = weights
    candidates: dict[str, list[str]] = {}
    for n, line in read_lines(cand_file):
        target, sep, cands = line.partition("::")
        if not sep:
            raise InputError(f"{cand_file}, line {n}: expected 'target.pos::c1;c2;...'")
        candidates[target] = sorted({c for c in cands.split(";") if c and " " not in c})
    out = []
    for n, line in read_lines(inst_file):
        try:
            target, iid, index, sentence = line.split("\t")
        except ValueError:
            raise InputError(f"{inst_file}, line {n}: expected 4 tab-separated fields") from None
        g = gold.get(iid, {})
        if not g or target not in candidates:
            continue
        out.append(Instance(target, sentence.split(" "), int(index), g, candidates[target]))
    return out


def gap(ranked: list[str], gold: dict[str, float]) -> float:
    """Generalized average precision of a ranked candidate list against gold weights."""
    x = np.array([gold.get(c, 0.0) for c in ranked])
    hits = x > 0
    if not hits.any():
        return 0.0
    prec = np.cumsum(x) / np.arange(1, len(x) + 1)
    ideal = np.sort(np.array(list(gold.values())))[::-1]
    ideal_prec = np.cumsum(ideal) / np.arange(1, len(ideal) + 1)
    return float(prec[hits].sum() / ideal_prec.sum())


def rank(candidates: list[str], scores: np.ndarray) -> list[str]:
    """Best first; ties (unknown words, scored -inf) keep the alphabetical order."""
    order = sorted(range(len(candidates)), key=lambda i: (-scores[i], candidates[i]))
    return [candidates[i] for i in order]


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (b @ a) / np.maximum(np.linalg.norm(b, axis=-1) * np.linalg.norm(a), 1e-12)


def static_scores(embedder, inst: Instance) -> np.ndarray:
    lemma = inst.target.rsplit(".", 1)[0]
    t = embedder.lookup(lemma)
    rows = [embedder.lookup(c) for c in inst.candidates]
    scores = np.full(len(rows), -np.inf)
    if t is None:
        return scores
    known = [i for i, r in enumerate(rows) if r is not None]
    if known:
        vecs = embedder.vectors[[rows[i] for i in known]]
        scores[known] = _cos(embedder.vectors[t], vecs)
    return scores


def context2vec_scores(embedder, insts: list[Instance]) -> tuple[list, list]:
    """Per instance: the c2t and c2t*t2t scores of its candidates."""
    contexts = embedder.contexts([i.tokens for i in insts], 64)
    target = embedder.model.target.weight.detach().numpy()
    c2t, both = [], []
    for inst, ctx in zip(insts, contexts, strict=True):
        c = ctx[inst.index].numpy()
        ids = [embedder.target_index(w) for w in inst.candidates]
        known = [i for i, r in enumerate(ids) if r is not None]
        s1 = np.full(len(ids), -np.inf)
        s2 = np.full(len(ids), -np.inf)
        if known:
            vecs = target[[ids[i] for i in known]]
            cc = _cos(c, vecs)
            s1[known] = cc
            row = embedder.target_index(inst.target.rsplit(".", 1)[0])
            if row is None:  # the lemma is unknown: try the word as written
                row = embedder.target_index(inst.tokens[inst.index])
            t = target[row] if row is not None else None
            tt = _cos(t, vecs) if t is not None else np.zeros(len(known))
            s2[known] = (cc + 1) / 2 * (tt + 1) / 2
        c2t.append(s1)
        both.append(s2)
    return c2t, both


def random_gap(insts: list[Instance], seeds: int = 10) -> float:
    rng = np.random.default_rng(0)
    return float(
        np.mean(
            [
                [gap(list(rng.permutation(i.candidates)), i.gold) for i in insts]
                for _ in range(seeds)
            ]
        )
    )


def run(ctx: Context) -> list[Result]:
    from ..models.context2vec import Context2VecEmbedder

    emb = ctx.embedder
    if not (ctx.is_static or isinstance(emb, Context2VecEmbedder)):
        raise TaskNotApplicable(
            f"lexsub ranks candidates with a static model or context2vec's slot vectors; "
            f"{ctx.name} is {emb.family}"
        )
    results = []
    for name in SETS:
        insts = ctx.take(load(name))
        paths = [ROOT / f for f in SETS[name]]
        scored: dict[str, list[np.ndarray]] = {}
        if ctx.is_static:
            scored["t2t"] = [static_scores(emb, i) for i in insts]
        else:
            scored["c2t"], scored["c2t*t2t"] = context2vec_scores(emb, insts)
        protocol = (
            "GAP over the pooled gold candidates of each target (single words only), "
            "unknown candidates ranked last"
        )
        for scorer, scores in scored.items():
            gaps = [gap(rank(i.candidates, s), i.gold) for i, s in zip(insts, scores, strict=True)]
            covered = np.mean([np.isfinite(s).mean() for s in scores])
            results.append(
                Result(
                    task="lexsub",
                    dataset=name,
                    model=ctx.name if scorer in ("t2t", "c2t") else f"{ctx.name} ({scorer})",
                    protocol=f"{scorer}: {protocol}",
                    split="test",
                    metrics={"gap": 100 * float(np.mean(gaps)), "coverage": 100 * float(covered)},
                    checksum=checksum(*paths),
                    details={"instances": len(insts)},
                )
            )
        results.append(
            Result(
                task="lexsub",
                dataset=name,
                model="random",
                protocol="mean GAP of 10 random orders",
                split="test",
                metrics={"gap": 100 * random_gap(insts), "coverage": 100.0},
                checksum=checksum(*paths),
                details={"instances": len(insts)},
            )
        )
    return results
