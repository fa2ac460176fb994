"""Task heads on top of an encoder's word vectors, and the metrics they are scored by.

Every head reads the encoder's layers through a learned ``LayerMix`` (ELMo's scalar mix,
Peters et al. 2018 eq. 1) or the top layer alone, then:

- ``classify``: the mean of the words' vectors -> MLP -> classes;
- ``pair-classify``: ``[u, v, |u - v|, u * v]`` of the two texts' mean vectors -> MLP;
- ``pair-score``: the cosine of the two mean vectors after a learned square projection
  (initialised to the identity, so training starts from the encoder's own cosine), trained
  by mean squared error against the gold score scaled to 0..1 (sentence-transformers'
  CosineSimilarityLoss);
- ``word-pair``: ``[t_a, t_b, |t_a - t_b|, t_a * t_b, s_a * s_b]`` of the target words'
  vectors (t) and the texts' mean vectors (s), read from one joint encoding of both texts;
- ``tag``: optionally a biLSTM over the words, then a linear layer, and optionally a CRF;
- ``span``: optionally a biLSTM over the question and context words, then start and end
  scores per context word (Devlin et al. 2019, section 4.2).
"""

from __future__ import annotations

import re
import string
from collections import Counter

import torch
from torch import nn


class LayerMix(nn.Module):
    """``gamma * sum_j softmax(w)_j h_j``; ``top=True``: the last layer alone (no weights)."""

    def __init__(self, n_layers: int, top: bool = False):
        super().__init__()
        self.top = top
        if not top:
            self.weights = nn.Parameter(torch.zeros(n_layers))
            self.gamma = nn.Parameter(torch.ones(()))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """``[n_layers, ..., dim] -> [..., dim]``."""
        if self.top:
            return h[-1]
        w = torch.softmax(self.weights, 0).view(-1, *([1] * (h.dim() - 1)))
        return self.gamma * (w * h).sum(0)


def mlp(n_in: int, hidden: int, n_out: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Dropout(dropout), nn.Linear(n_in, hidden), nn.Tanh(), nn.Dropout(dropout),
        nn.Linear(hidden, n_out),
    )  # fmt: skip


class BiLSTM(nn.Module):
    """A one-layer biLSTM over padded word vectors (the feature-based taggers' encoder)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.lstm = nn.LSTM(dim, hidden, batch_first=True, bidirectional=True)
        self.out_dim = 2 * hidden

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = nn.utils.rnn.pack_padded_sequence(
            x, lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        out, _ = self.lstm(packed)
        return nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0]


class CRF(nn.Module):
    """A linear-chain CRF (Lafferty et al. 2001) over per-word tag scores: the negative
    log-likelihood of the gold tags by the forward algorithm, and Viterbi decoding."""

    def __init__(self, n_tags: int):
        super().__init__()
        self.trans = nn.Parameter(torch.zeros(n_tags, n_tags))  # [from, to]
        self.start = nn.Parameter(torch.zeros(n_tags))
        self.end = nn.Parameter(torch.zeros(n_tags))

    def nll(self, scores: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean over sentences; ``scores [B, T, K]``, ``tags [B, T]``, ``mask [B, T]`` (bool,
        every row starts with a word)."""
        B, T, _ = scores.shape
        rows = torch.arange(B, device=scores.device)
        gold = self.start[tags[:, 0]] + scores[rows, 0, tags[:, 0]]
        alpha = self.start + scores[:, 0]  # [B, K]
        for t in range(1, T):
            m = mask[:, t]
            step = self.trans[tags[:, t - 1], tags[:, t]] + scores[rows, t, tags[:, t]]
            gold = gold + step * m
            nxt = torch.logsumexp(alpha.unsqueeze(2) + self.trans + scores[:, t].unsqueeze(1), 1)
            alpha = torch.where(m.unsqueeze(1), nxt, alpha)
        last = tags[rows, mask.sum(1) - 1]
        gold = gold + self.end[last]
        return (torch.logsumexp(alpha + self.end, 1) - gold).mean()

    def decode(self, scores: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
        B, T, _ = scores.shape
        best = self.start + scores[:, 0]
        back = []
        for t in range(1, T):
            total = best.unsqueeze(2) + self.trans  # [B, from, to]
            value, arg = total.max(1)
            m = mask[:, t].unsqueeze(1)
            best = torch.where(m, value + scores[:, t], best)
            keep = torch.arange(arg.shape[1], device=arg.device).expand_as(arg)
            back.append(torch.where(m, arg, keep))
        best = best + self.end
        back = [b.cpu() for b in back]  # one copy from the device, then Python reads
        best = best.cpu()
        out = []
        for b in range(B):
            n = int(mask[b].sum())
            tag = int(best[b].argmax())
            path = [tag]
            for t in range(n - 1, 0, -1):
                tag = int(back[t - 1][b, tag])
                path.append(tag)
            out.append(path[::-1])
        return out


# -- metrics ----------------------------------------------------------------------------------
def accuracy(gold: list, pred: list) -> float:
    return 100 * sum(g == p for g, p in zip(gold, pred, strict=True)) / max(len(gold), 1)


def is_bio(labels: list[str]) -> bool:
    """Tags in BIO (or IOB2) form: entity F1 is the metric, not per-word accuracy."""
    return any(t.startswith(("B-", "I-")) for t in labels) and all(
        t == "O" or t[:2] in ("B-", "I-") for t in labels
    )


def correlations(gold: list[float], pred: list[float]) -> dict[str, float]:
    from scipy.stats import pearsonr, spearmanr

    if len(set(pred)) < 2:  # a constant prediction has no correlation: score it 0, not NaN
        return {"spearman": 0.0, "pearson": 0.0}
    return {
        "spearman": 100 * float(spearmanr(gold, pred).statistic),
        "pearson": 100 * float(pearsonr(gold, pred).statistic),
    }


def entity_scores(gold: list[list[str]], pred: list[list[str]]) -> dict[str, float]:
    """Entity-level precision, recall and F1 the CoNLL way (seqeval's default mode: a span
    counts when its type and both ends match; an I- without a B- starts a span)."""
    from seqeval.metrics import f1_score, precision_score, recall_score

    return {
        "f1": 100 * f1_score(gold, pred),
        "precision": 100 * precision_score(gold, pred),
        "recall": 100 * recall_score(gold, pred),
    }


def normalize_answer(s: str) -> str:
    """The official SQuAD v1.1 evaluation's normalisation: lower case, no punctuation, no
    articles (a, an, the), single spaces."""
    s = "".join(ch for ch in s.lower() if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def span_f1(prediction: str, truth: str) -> float:
    p, t = normalize_answer(prediction).split(), normalize_answer(truth).split()
    common = Counter(p) & Counter(t)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(t)
    return 2 * precision * recall / (precision + recall)


def squad_scores(answers: list[list[str]], predictions: list[str]) -> dict[str, float]:
    """Exact match and F1 x100, each the best over a question's gold answers (official)."""
    em = f1 = 0.0
    for gold, pred in zip(answers, predictions, strict=True):
        em += max(float(normalize_answer(pred) == normalize_answer(g)) for g in gold)
        f1 += max(span_f1(pred, g) for g in gold)
    n = max(len(answers), 1)
    return {"exact_match": 100 * em / n, "f1": 100 * f1 / n}


def span_scores(start: torch.Tensor, end: torch.Tensor, max_words: int) -> tuple[int, int, float]:
    """The best ``(s, e)`` with ``s <= e < s + max_words`` by start + end score (searched
    along the band of allowed lengths: memory grows with the context, not its square)."""
    n = start.shape[0]
    best = (0, 0, float("-inf"))
    for k in range(min(max_words, n)):
        total = start[: n - k] + end[k:]
        s = int(total.argmax())
        if float(total[s]) > best[2]:
            best = (s, s + k, float(total[s]))
    return best
