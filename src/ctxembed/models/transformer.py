"""Any local Hugging Face encoder (BERT, RoBERTa, MiniLM, ...) as a word and sentence embedder.

How a text becomes word vectors:
1. words -> subword ids with the model's own tokenizer (``is_split_into_words``), so each
   subword knows its word;
2. a text longer than the model's window is cut into windows of ``max_length`` tokens
   that overlap by half; each subword takes its vector from the window whose centre is
   nearest, so it always sees at least a quarter window of context on both sides
   (except at the text's ends). Nothing is cut off;
3. windows of all texts are sorted by length and batched, so padding is minimal;
4. subword vectors are pooled back to words (mean, first or last).

Sentence vectors pool the tokens of the raw text the way sentence-transformers does
(special tokens included in the mean), so ``minilm-l6`` reproduces its reference output.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..embedder import Embedder, Family, read_manifest, resolve_layers, write_manifest
from ..errors import InputError, ModelError
from ..io import atomic_dir
from ..text.windows import batches
from ..text.words import Doc, prepare

SENTENCE_POOLING = ("mean", "cls", "max")


class TransformerEmbedder(Embedder):
    family = "transformer"

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: Any,
        *,
        sentence_pooling: str = "mean",
        normalize: bool = False,
        max_length: int | None = None,
        sentence_max_length: int | None = None,
        device: str | torch.device = "cpu",
        quantize: str | None = None,
    ):
        self.device = _device(device)
        if quantize not in QUANTIZE:
            raise InputError(f"quantize={quantize!r}: use one of {', '.join(map(str, QUANTIZE))}")
        if quantize is not None and self.device.type != "cpu":
            raise InputError(f"quantize={quantize!r} runs on the CPU only: drop device or quantize")
        self.quantize = quantize
        self.source = model.to(self.device).eval()  # what save writes: the fp32 weights
        self.model = self.source if quantize is None else int8(self.source, quantize)
        self._setup(
            model.config, tokenizer, sentence_pooling, normalize, max_length, sentence_max_length
        )

    def _setup(
        self,
        config: Any,
        tokenizer: Any,
        sentence_pooling: str,
        normalize: bool,
        max_length: int | None,
        sentence_max_length: int | None,
    ) -> None:
        """What every runtime of a Hugging Face encoder shares: the config's sizes, the
        tokenizer, the pooling and the window (checked against the position table)."""
        if sentence_pooling not in SENTENCE_POOLING:
            raise InputError(
                f"sentence_pooling={sentence_pooling!r}: use one of {SENTENCE_POOLING}"
            )
        self.hf_config = config
        self.tokenizer = tokenizer
        self.dim = config.hidden_size
        self.n_layers = config.num_hidden_layers + 1
        self.sentence_pooling = sentence_pooling
        self.normalize = normalize
        if not isinstance(max_length, int | None) or isinstance(max_length, bool):
            raise InputError(f"max_length={max_length!r}: give a whole number of tokens")
        self.max_length = self._position_limit() if max_length is None else max_length
        table = self._position_table()
        if not 0 < self.max_length <= table:
            # positions past the table have no embedding: refuse now, not at the first long text
            raise InputError(
                f"max_length={self.max_length}: this model has {table} positions, so use "
                f"1..{table}; longer texts are embedded in overlapping windows anyway"
            )
        self.sentence_max_length = min(sentence_max_length or self.max_length, self.max_length)
        self._prefix, self._suffix = _special_tokens(tokenizer)
        if self.sentence_max_length <= len(self._prefix) + len(self._suffix):
            raise InputError("max_length leaves no room inside the model's special tokens")
        self._pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def _position_table(self) -> int:
        """How many tokens one window can hold: the rows of the position embedding table."""
        n = self.hf_config.max_position_embeddings
        if self.hf_config.model_type in ("roberta", "xlm-roberta", "camembert"):
            n -= 2  # positions start after the padding index
        return n

    def _position_limit(self) -> int:
        """The default window: the position table, or the tokenizer's limit if smaller."""
        limits = [self._position_table()]
        model_max = getattr(self.tokenizer, "model_max_length", None)
        if isinstance(model_max, int) and model_max < 1_000_000:
            limits.append(model_max)
        return min(limits)

    @classmethod
    def from_folder(cls, path: Path, **options: Any) -> TransformerEmbedder:
        """A folder ctxembed saved: its manifest's settings, then ``options``, over the defaults."""
        return cls.from_pretrained(path, **{**read_manifest(path).get("config", {}), **options})

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, **options: Any) -> TransformerEmbedder:
        """Load a local checkpoint folder; its sentence-transformers settings become defaults."""
        from safetensors import SafetensorError
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        path = Path(path)
        defaults = _sentence_transformers_settings(path)
        defaults.update(options)
        defaults["device"] = _device(defaults.get("device", "cpu"))  # before reading weights
        config = read_config(path)
        tokenizer = read_tokenizer(path)
        weights = path / "model.safetensors"
        if not weights.exists() and not (path / "model.safetensors.index.json").exists():
            raise ModelError(
                f"{path} has no model.safetensors: ctxembed reads only safetensors weights "
                "(never a pickled pytorch_model.bin); convert the folder where you trust it "
                "with transformers' save_pretrained, which writes safetensors"
            )
        try:
            model = AutoModel.from_pretrained(
                path,
                config=config,
                local_files_only=True,
                dtype=torch.float32,
                use_safetensors=True,
            )
        except (OSError, ValueError, RuntimeError, SafetensorError) as e:
            raise ModelError(
                f"{weights}: the weights cannot be read: the file is truncated or damaged, or "
                f"does not match config.json ({e}); copy it again from the original model"
            ) from None
        return cls(model, tokenizer, **defaults)

    # -- the shared engine ------------------------------------------------------------
    def _batches(
        self,
        ids: list[list[int]],
        layers: tuple[int, ...],
        window: int,
        batch_size: int,
        progress: bool,
    ):
        """Per batch of windows: the windows ``(text, start, end, own_start, own_end)`` and
        their hidden states ``[n_sel, batch, width, dim]`` under the caller's grad mode; each
        window's subwords sit at ``len(prefix) + j - start``."""
        body_max = window - len(self._prefix) - len(self._suffix)
        if self.one_window_per_pass:
            batch_size = 1
        p = len(self._prefix)
        for batch in batches([len(t) for t in ids], body_max, batch_size, progress):
            width = max(e - s for _, s, e, _, _ in batch) + p + len(self._suffix)
            input_ids = torch.full((len(batch), width), self._pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for r, (i, s, e, _, _) in enumerate(batch):
                row = self._prefix + ids[i][s:e] + self._suffix
                input_ids[r, : len(row)] = torch.tensor(row)
                mask[r, : len(row)] = 1
            yield batch, self._forward(input_ids, mask, layers)

    @property
    def one_window_per_pass(self) -> bool:
        # dynamic int8 scales activations per forward pass: one window per pass, so a text's
        # vectors do not depend on its batch mates (and there is no padding)
        return self.quantize is not None

    def _forward(
        self, input_ids: torch.Tensor, mask: torch.Tensor, layers: tuple[int, ...]
    ) -> torch.Tensor:
        """The hidden states ``layers`` of a padded batch, ``[n_sel, batch, width, dim]``."""
        only_last = layers == (self.n_layers - 1,)
        out = self.model(
            input_ids=input_ids.to(self.device),
            attention_mask=mask.to(self.device),
            output_hidden_states=not only_last,
        )
        if only_last:
            return out.last_hidden_state.unsqueeze(0)
        return torch.stack([out.hidden_states[j] for j in layers])

    def _encode(
        self,
        ids: list[list[int]],
        layers: tuple[int, ...],
        window: int,
        batch_size: int,
        progress: bool,
    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per text: ``(body, head, tail)`` vectors, each ``[n_sel, n, dim]``.

        ``body`` has one row per subword of the text; ``head``/``tail`` are the special
        tokens around it (from the first and last window). Each batch is copied out as it
        comes, so memory holds one batch's states, not the input's.
        """
        n_sel, p, q = len(layers), len(self._prefix), len(self._suffix)
        bodies = [np.empty((n_sel, len(t), self.dim), dtype=np.float32) for t in ids]
        heads: list[np.ndarray] = [None] * len(ids)  # type: ignore[list-item]
        tails: list[np.ndarray] = [None] * len(ids)  # type: ignore[list-item]
        with torch.inference_mode():
            for batch, hidden in self._batches(ids, layers, window, batch_size, progress):
                h = hidden.float().cpu().numpy()
                for r, (i, s, e, own_s, own_e) in enumerate(batch):
                    bodies[i][:, own_s:own_e] = h[:, r, p + own_s - s : p + own_e - s]
                    if s == 0:
                        heads[i] = h[:, r, :p]
                    if e == len(ids[i]):
                        tails[i] = h[:, r, p + e - s : p + e - s + q]
        return list(zip(bodies, heads, tails, strict=True))

    def tunable(self) -> torch.nn.Module | None:
        return self.model if self.quantize is None else None

    def word_layers(
        self, docs: list[Doc], batch_size: int = 32, layers: tuple[int, ...] | None = None
    ) -> list[torch.Tensor]:
        """Per doc ``[n_sel, n_words, dim]`` (mean of each word's subwords), under the
        caller's grad mode: the path fine-tuning trains through."""
        if self.quantize is not None:
            raise ModelError(
                f"this model was loaded with quantize={self.quantize!r}: int8 weights cannot be "
                "trained; load it without quantize to fine-tune it, or use it frozen "
                "(--mode frozen)"
            )
        ids, starts = self._word_token_ids(docs)
        which = tuple(range(self.n_layers)) if layers is None else layers
        p = len(self._prefix)
        pieces: list[list[tuple[int, torch.Tensor]]] = [[] for _ in ids]
        for batch, hidden in self._batches(ids, which, self.max_length, batch_size, False):
            for r, (i, s, _, own_s, own_e) in enumerate(batch):
                pieces[i].append((own_s, hidden[:, r, p + own_s - s : p + own_e - s]))
        out = []
        for parts, bounds in zip(pieces, starts, strict=True):
            body = torch.cat([t for _, t in sorted(parts, key=lambda x: x[0])], dim=1)
            counts = torch.from_numpy(np.diff(bounds)).to(body.device)
            word = torch.repeat_interleave(torch.arange(len(counts), device=body.device), counts)
            summed = body.new_zeros(body.shape[0], len(counts), body.shape[2])
            summed = summed.index_add(1, word, body)
            out.append(summed / counts.to(body.dtype)[None, :, None])
        return out

    # -- words --------------------------------------------------------------------------
    def _word_token_ids(self, docs: list[Doc]) -> tuple[list[list[int]], list[np.ndarray]]:
        """Subword ids of each doc and, per doc, the first subword of each word (+ end)."""
        words = [d.words for d in docs]
        enc = self.tokenizer(
            words, is_split_into_words=True, add_special_tokens=False, verbose=False
        )
        ids, starts = [], []
        for i, doc in enumerate(docs):
            word_ids = enc.word_ids(i)
            if len(set(word_ids)) != len(doc.words):
                # words the tokenizer drops entirely (e.g. a lone U+FFFD) stand in as UNK
                present = set(word_ids)
                unk = self.tokenizer.unk_token
                if unk is None:
                    raise InputError(f"text {i}: the tokenizer gives no subword for some words")
                fixed = [w if j in present else unk for j, w in enumerate(doc.words)]
                one = self.tokenizer(
                    [fixed], is_split_into_words=True, add_special_tokens=False, verbose=False
                )
                ids.append(one["input_ids"][0])
                word_ids = one.word_ids(0)
            else:
                ids.append(enc["input_ids"][i])
            w = np.asarray(word_ids)
            first = np.flatnonzero(np.r_[True, w[1:] != w[:-1]])
            starts.append(np.r_[first, len(w)])
        return ids, starts

    def token_counts(self, texts) -> list[np.ndarray]:
        _, starts = self._word_token_ids(prepare(texts))
        return [np.diff(b) for b in starts]

    def _embed_docs(self, docs, layers, pooling, batch_size, progress):
        ids, starts = self._word_token_ids(docs)
        encoded = self._encode(ids, layers, self.max_length, batch_size, progress)
        out = []
        for (body, _, _), bounds in zip(encoded, starts, strict=True):
            first, end = bounds[:-1], bounds[1:]
            if pooling == "first":
                vecs = body[:, first]
            elif pooling == "last":
                vecs = body[:, end - 1]
            else:
                counts = (end - first).astype(np.float32)[None, :, None]
                vecs = np.add.reduceat(body, first, axis=1) / counts
            out.append((np.ascontiguousarray(vecs, dtype=np.float32), None))
        return out

    # -- sentences ----------------------------------------------------------------------
    def embed_sentences(
        self,
        texts,
        pooling: str | None = None,
        layers: int | list[int] | str = -1,
        normalize: bool | None = None,
        batch_size: int = 32,
        progress: bool | None = None,
    ) -> np.ndarray:
        """One vector per text from the tokens of the raw text.

        ``pooling`` defaults to the model's own (sentence-transformers config) or mean;
        ``mean`` averages all tokens including the special ones, as sentence-transformers
        does. Texts over the model's sentence length are windowed, never cut.
        """
        docs = prepare(texts)
        raw = [isinstance(t, str) for t in ([texts] if isinstance(texts, str) else texts)]
        if all(raw):
            src = [texts] if isinstance(texts, str) else list(texts)
            ids = self.tokenizer(src, add_special_tokens=False, verbose=False)["input_ids"]
        else:
            ids, _ = self._word_token_ids(docs)
        show = len(ids) >= 256 if progress is None else progress
        return self.embed_ids(ids, pooling, layers, normalize, batch_size, show)

    def embed_ids(
        self,
        ids: list[list[int]],
        pooling: str | None = None,
        layers: int | list[int] | str = -1,
        normalize: bool | None = None,
        batch_size: int = 32,
        progress: bool = False,
    ) -> np.ndarray:
        """``embed_sentences`` of texts given as subword ids (without special tokens: they
        are added), ``[n, dim]``: what a distilled token table is made of."""
        n = len(self.tokenizer)
        for k, row in enumerate(ids):
            if not row or not all(isinstance(i, int | np.integer) and 0 <= i < n for i in row):
                raise InputError(f"ids {k}: give a non-empty list of token ids in 0..{n - 1}")
        pooling = pooling or self.sentence_pooling
        if pooling not in SENTENCE_POOLING:
            raise InputError(f"pooling={pooling!r}: use one of {SENTENCE_POOLING}")
        if pooling == "cls" and not self._prefix:
            raise InputError("pooling='cls': this tokenizer adds no leading special token")
        spec = resolve_layers(layers, self.n_layers)
        encoded = self._encode(ids, spec.indices, self.sentence_max_length, batch_size, progress)
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        for i, (body, head, tail) in enumerate(encoded):
            toks = spec.combine(np.concatenate([head, body, tail], axis=1))
            if pooling == "mean":
                out[i] = toks.mean(0)
            elif pooling == "max":
                out[i] = toks.max(0)
            else:
                out[i] = toks[0]
        if self.normalize if normalize is None else normalize:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out

    # -- folders --------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        return {
            "sentence_pooling": self.sentence_pooling,
            "normalize": self.normalize,
            "max_length": self.max_length,
            "sentence_max_length": self.sentence_max_length,
            "quantize": self.quantize,
        }

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> None:
        with atomic_dir(path, overwrite) as tmp:
            self.source.save_pretrained(tmp, safe_serialization=True)
            self.tokenizer.save_pretrained(tmp)
            write_manifest(tmp, self.family, self.config())


# None: fp32. int8: dynamic int8 (weights per output channel, activations per pass) in every
# Linear layer. int8-ffn-fp32: the same, but each layer's feed-forward output projection stays
# fp32 (its inputs, after GELU, are the hardest to quantize; benchmarks/quantized.py).
QUANTIZE = (None, "int8", "int8-ffn-fp32")


def int8(model: torch.nn.Module, recipe: str) -> torch.nn.Module:
    """A copy of ``model`` with its Linear layers quantized dynamically to int8 (per-channel
    weights): about twice the speed on CPU; the deterministic recipe, so a folder saved with
    ``quantize`` loads back to the same vectors."""
    import warnings

    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    linear = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    names = {n for n in linear if not (recipe == "int8-ffn-fp32" and _ffn_output(n))}
    if recipe == "int8-ffn-fp32" and len(names) == len(linear):
        raise InputError(
            f"quantize={recipe!r}: this model's feed-forward output layers are not named as "
            "BERT's (layer.N.output.dense); use quantize='int8'"
        )
    with warnings.catch_warnings():  # torch marks its quantized tensors deprecated
        warnings.simplefilter("ignore")
        return quantize_dynamic(
            model, {name: per_channel_dynamic_qconfig for name in names}, dtype=torch.qint8
        )


def _ffn_output(name: str) -> bool:
    """BERT-style ``layer.N.output.dense`` (not ``attention.output.dense``)."""
    return name.endswith("output.dense") and not name.endswith("attention.output.dense")


def read_config(path: Path) -> Any:
    """A checkpoint folder's Hugging Face config, or a ModelError that says what to do."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as e:
        raise ModelError(
            f"{path / 'config.json'} is not a valid Hugging Face model config ({e}); "
            "copy the folder again from the original model"
        ) from None


def read_tokenizer(path: Path) -> Any:
    """A checkpoint folder's fast tokenizer (subwords must map back to words)."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True, use_fast=True)
        try:
            tokenizer([["a", "b"]], is_split_into_words=True)
        except (ValueError, AssertionError, TypeError):
            # byte-level BPE (RoBERTa, GPT-2) takes word lists only with a prefix space
            tokenizer = AutoTokenizer.from_pretrained(
                path, local_files_only=True, use_fast=True, add_prefix_space=True
            )
    except Exception as e:  # the Rust tokenizers library raises bare Exceptions
        files = path / "tokenizer.json" if (path / "tokenizer.json").exists() else path
        raise ModelError(
            f"{files}: the tokenizer cannot be read, the file is damaged or not a tokenizer "
            f"({type(e).__name__}: {e}); copy it again from the original model"
        ) from None
    if not getattr(tokenizer, "is_fast", False):
        raise ModelError(f"{path}: needs a fast tokenizer (tokenizer.json) to align subwords")
    return tokenizer


def _device(device: str | torch.device) -> torch.device:
    """``cpu``, ``cuda``, ``cuda:N``, ``mps`` or a ``torch.device``, checked to exist here."""
    try:
        dev = torch.device(device) if isinstance(device, str | torch.device) else None
    except RuntimeError:
        dev = None
    if dev is None or dev.type not in ("cpu", "cuda", "mps"):
        raise InputError(f"device={device!r}: use 'cpu', 'cuda', 'cuda:N' or 'mps'")
    if dev.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (dev.index or 0) >= n:
            why = f"{n} CUDA devices" if torch.version.cuda else "this torch is built without CUDA"
            raise ModelError(f"device {str(dev)!r} is not available here ({why}): use 'cpu'")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ModelError("device 'mps' is not available here (Apple GPUs only): use 'cpu'")
    return dev


def _special_tokens(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The ids the tokenizer puts before and after a single text."""
    bare = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a")["input_ids"]
    for k in range(len(full) - len(bare) + 1):
        if full[k : k + len(bare)] == bare:
            return full[:k], full[k + len(bare) :]
    raise ModelError("cannot locate the text inside this tokenizer's special tokens")


def _sentence_transformers_settings(path: Path) -> dict[str, Any]:
    """Defaults from a sentence-transformers folder: pooling, normalization, length."""
    out: dict[str, Any] = {}
    modules = path / "modules.json"
    if not modules.exists():
        return out
    try:
        entries = json.loads(modules.read_text())
        for m in entries:
            kind = m.get("type", "")
            if kind.endswith("Normalize"):
                out["normalize"] = True
            elif kind.endswith("Pooling"):
                pcfg = json.loads((path / m["path"] / "config.json").read_text())
                for mode in SENTENCE_POOLING:
                    key = {
                        "mean": "pooling_mode_mean_tokens",
                        "cls": "pooling_mode_cls_token",
                        "max": "pooling_mode_max_tokens",
                    }[mode]
                    if pcfg.get(key):
                        out["sentence_pooling"] = mode
                        break
        sbert = path / "sentence_bert_config.json"
        if sbert.exists():
            out["sentence_max_length"] = int(json.loads(sbert.read_text())["max_seq_length"])
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise ModelError(f"{path}: unreadable sentence-transformers config: {e}") from None
    return out


def open_asset(root: Path, **options: Any) -> TransformerEmbedder:
    """A pip-installed model package: the checkpoint is its ``model`` folder."""
    return TransformerEmbedder.from_pretrained(root / "model", **options)


FAMILY = Family(
    "transformer",
    embedder=TransformerEmbedder,
    load_options=(
        "device",
        "max_length",
        "sentence_max_length",
        "sentence_pooling",
        "normalize",
        "quantize",
    ),
    detect=lambda path: path.is_dir() and (path / "config.json").is_file(),  # Hugging Face
    open=TransformerEmbedder.from_pretrained,
)
