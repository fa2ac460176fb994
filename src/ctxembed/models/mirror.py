"""Mirror-BERT (Liu, Vulic, Korhonen and Collier 2021): rewire a masked LM without labels.

Each string is its own positive: it is encoded twice, once as is and once with a random
span of ``span`` characters replaced by the mask token (sentence mode; the paper's code
skips strings under 30 characters), and dropout makes the two passes differ further.
Last-layer vectors of the ``2N`` views of a batch, pooled the way the base embedder pools its
sentences, go into InfoNCE (NT-Xent): cosine similarities over a temperature, each view's
partner the positive and the other ``2N - 2`` the negatives. The rewired embedder keeps the
base's sentence pooling and normalisation, so with no training it embeds as the base does.

Paper settings as defaults: 10k strings (random sentences, or the most frequent words),
batch 200, AdamW at 2e-5, temperature 0.04 and 1 epoch for sentences, 0.2 and 2 epochs for
words, max length 50 / 25 tokens. (For words the paper's script pools [CLS]; we pool as the
base embedder reads sentences, the mean for minilm-l6 and our BERT.)
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace

import torch
from torch.nn import functional as F

from ..embedder import Family, Trainer
from ..errors import InputError
from ..options import count, positive, positive_float
from ..train import options
from ..train.corpus import sentences
from ..train.distributed import is_main
from ..train.loop import History, LoopConfig, train
from .transformer import TransformerEmbedder

MODES = ("sentence", "word")


@dataclass
class MirrorConfig:
    mode: str = "sentence"
    n_items: int = 10_000
    batch_size: int = 200
    epochs: int = 1
    lr: float = 2e-5
    max_len: int = 50
    temperature: float = 0.04
    span: int = 5  # characters masked in the second view; 0 = none
    min_chars: int = 30  # shorter strings are not span-masked (as the paper's code)
    dropout: float = 0.1
    seed: int = 0
    max_steps: int | None = None

    @classmethod
    def for_mode(cls, mode: str, **changes) -> MirrorConfig:
        if mode not in MODES:
            raise InputError(f"--mode {mode!r}: use one of {', '.join(MODES)}")
        base = (
            cls()
            if mode == "sentence"
            else cls(mode="word", epochs=2, max_len=25, temperature=0.2, span=0)
        )
        return replace(base, **{k: v for k, v in changes.items() if v is not None})


def training_strings(corpus: Iterable[list[str]], cfg: MirrorConfig) -> list[str]:
    """Sentence mode: ``n_items`` random distinct sentences; word mode: the most frequent words.

    One streamed pass. The random sample keeps the sentences of smallest seeded hash (a
    heap of ``n_items``), so memory is the sample and the draw does not depend on line order.
    """
    if cfg.mode == "word":
        counts = Counter(w for words in corpus for w in words if w.isalpha())
        items = [w for w, _ in counts.most_common(cfg.n_items)]
    else:
        heap: list[tuple[int, str]] = []  # (-key, text): the root is the largest kept key
        kept: set[str] = set()
        for s in sentences((words for words in corpus if words), 10_000):
            text = " ".join(s)
            if len(s) < 3 or text in kept:
                continue
            key = _key(text, cfg.seed)
            if len(heap) < cfg.n_items:
                heapq.heappush(heap, (-key, text))
                kept.add(text)
            elif key < -heap[0][0]:
                kept.discard(heapq.heapreplace(heap, (-key, text))[1])
                kept.add(text)
        items = [text for _, text in sorted(heap, reverse=True)]  # by key: a random order
    if len(items) < 2:
        raise InputError("the corpus gives fewer than 2 training strings; contrast needs a batch")
    return items


def _key(text: str, seed: int) -> int:
    digest = hashlib.blake2b(text.encode(), digest_size=8, key=seed.to_bytes(8, "little"))
    return int.from_bytes(digest.digest(), "little")


def span_mask(text: str, span: int, min_chars: int, mask: str) -> str:
    """Replace a random span of ``span`` characters with the mask token (torch's RNG)."""
    if span <= 0 or len(text) < max(min_chars, span + 1):
        return text
    start = int(torch.randint(len(text) - span, ()))
    return f"{text[:start]} {mask} {text[start + span :]}"


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent over the 2N views: row i's positive is its partner, all others negatives."""
    z = F.normalize(torch.cat([a, b]), dim=-1)
    sim = z @ z.T / temperature
    sim.fill_diagonal_(float("-inf"))
    n = len(a)
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    return F.cross_entropy(sim, target)


def pool(model, tokenizer, texts: list[str], max_len: int, mode: str = "mean") -> torch.Tensor:
    """Sentence vectors as ``TransformerEmbedder.embed_sentences`` pools them (special tokens
    included), differentiable; normalising is left to the cosine in ``info_nce``."""
    enc = tokenizer(texts, padding=True, truncation=True, max_length=max_len, return_tensors="pt")
    hidden = model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).bool()
    if mode == "cls":
        return hidden[:, 0]
    if mode == "max":
        return hidden.masked_fill(~mask, float("-inf")).amax(1)
    return (hidden * mask).sum(1) / mask.sum(1)


def train_mirror(
    base: TransformerEmbedder,
    corpus: Iterable[list[str]],
    cfg: MirrorConfig,
    progress: bool = True,
) -> tuple[TransformerEmbedder, History, list[str]]:
    """Rewire ``base`` in place of a copy; returns the new embedder, history and the strings."""
    import copy

    if not isinstance(base, TransformerEmbedder):
        raise InputError(f"Mirror-BERT needs a transformer encoder; got {base.family}")
    if base.tunable() is None:  # int8 weights, an ONNX graph
        raise InputError(
            f"the base model ({base.family}, {base.quantize or 'fp32'}) cannot be trained: "
            "give the fp32 torch model it came from (loaded without quantize, not exported)"
        )
    items = training_strings(corpus, cfg)
    torch.manual_seed(cfg.seed)
    model = copy.deepcopy(base.model)
    for m in model.modules():  # the paper's dropout rate, whatever the base was saved with
        if isinstance(m, torch.nn.Dropout):
            m.p = cfg.dropout
    tok = base.tokenizer
    order = list(range(len(items)))
    batches = [order[b : b + cfg.batch_size] for b in range(0, len(order), cfg.batch_size)]
    batches = [b for b in batches if len(b) >= 2]

    def loss_fn(batch: list[int]):
        texts = [items[i] for i in batch]
        views = [span_mask(t, cfg.span, cfg.min_chars, tok.mask_token) for t in texts]
        loss = info_nce(
            pool(model, tok, texts, cfg.max_len, base.sentence_pooling),
            pool(model, tok, views, cfg.max_len, base.sentence_pooling),
            cfg.temperature,
        )
        return loss, len(batch), None

    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    loop = LoopConfig(
        epochs=cfg.epochs, clip=None, seed=cfg.seed, checkpoint_every=0, max_steps=cfg.max_steps
    )
    history = train(model, opt, batches, loss_fn, loop, None, False, None, progress, "mirror")
    model.eval()
    rewired = TransformerEmbedder(
        model,
        tok,
        sentence_pooling=base.sentence_pooling,
        normalize=base.normalize,
        max_length=base.max_length,
        sentence_max_length=base.sentence_max_length,
    )
    return rewired, history, items


# -- command line: `ctxembed train mirror` -----------------------------------------------------
def add_train_arguments(t: argparse.ArgumentParser) -> None:
    t.add_argument("--base", required=True, help="a transformer: minilm-l6 or a local folder")
    t.add_argument("--corpus", required=True)
    t.add_argument("--mode", default="sentence", choices=("sentence", "word"))
    t.add_argument("--out", required=True)
    t.add_argument("--items", type=positive, default=None, help="strings to train on")
    t.add_argument("--batch-size", type=positive, default=None)
    t.add_argument("--epochs", type=positive, default=None)
    t.add_argument("--lr", type=positive_float, default=None)
    t.add_argument("--temperature", type=positive_float, default=None)
    t.add_argument("--span", type=count, default=None, help="characters masked in view 2")
    options.loop_args(t, checkpoint_every=None)


def train_command(args: argparse.Namespace) -> int:
    from ..families import load
    from ..train.corpus import Corpus

    options.check_out(args)
    given = {k: v for k, v in vars(args).items() if k in MirrorConfig.__dataclass_fields__}
    cfg = MirrorConfig.for_mode(**given, n_items=args.items)  # None: the mode's default
    base = load(args.base)
    start = time.perf_counter()
    model, hist, items = train_mirror(base, Corpus(args.corpus), cfg, progress=not args.quiet)
    if not is_main():  # under torchrun: rank 0 writes the one model
        return 0
    model.save(args.out, overwrite=args.overwrite)
    print(
        f"mirror ({cfg.mode}, base {args.base}): {len(items):,} strings, {len(hist.losses)} steps "
        f"in {time.perf_counter() - start:.0f}s, loss {hist.losses[0]:.3f} -> "
        f"{hist.losses[-1]:.3f}, peak memory {options.peak_memory_mib():,.0f} MiB -> {args.out}"
    )
    return 0


FAMILY = Family(
    "mirror",
    embedder=None,
    trainer=Trainer(
        "Mirror-BERT: contrastive self-supervised rewiring of a masked LM",
        add_train_arguments,
        train_command,
        "Defaults follow the paper per --mode (sentence: 10k random sentences, "
        "temperature 0.04, 1 epoch; word: 10k most frequent words, 0.2, 2 epochs).",
    ),
)
