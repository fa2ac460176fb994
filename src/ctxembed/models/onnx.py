"""Transformer encoders exported to ONNX and run with onnxruntime (``ctxembed export
--format onnx [--quantize RECIPE]``, then ``ctxembed.load(folder)``).

The exported graph returns every hidden state, stacked ``[layers, batch, width, dim]``, so
windows, layer selection and mixing, word pooling and sentence pooling are the transformer
family's own code: this class swaps only the forward pass. The graph is fused once at export
(onnxruntime's transformer optimizer: bias+GELU, residual+LayerNorm), which is where most of
the fp32 gain over torch comes from.

Quantization is onnxruntime's dynamic int8: weights per output channel, activations scaled
per pass. Recipes (``benchmarks/quantized.py`` measures each against torch fp32):

- ``int8``: every weight matrix;
- ``int8-early-ffn-fp32``: the same, except the feed-forward output projections of the first
  two layers (2 of 36 matrices in MiniLM-L6), whose GELU inputs quantize worst and whose
  error every later layer carries.

An int8 model runs one window per pass, so that its activation scales never see batch mates
(a text's vectors would depend on them). The fp32 export batches padded windows as torch
does: its vectors are the same alone or batched (to 1e-5), and short texts run faster
batched than one at a time (benchmarks/quantized.py's sentences/s).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from ..embedder import Family, read_manifest, write_manifest
from ..errors import InputError, ModelError
from ..io import atomic_dir, check_dir, inside
from .static import StaticEmbedder
from .transformer import TransformerEmbedder, read_config, read_tokenizer

GRAPH = "model.onnx"
RECIPES = (None, "int8", "int8-early-ffn-fp32")
EARLY_LAYERS = 2  # int8-early-ffn-fp32 keeps these layers' FFN output projections in fp32
OPSET = 17
SETTINGS = ("sentence_pooling", "normalize", "max_length", "sentence_max_length")


class OnnxEmbedder(TransformerEmbedder):
    family = "onnx"

    def __init__(
        self,
        graph: str | os.PathLike,
        config: Any,
        tokenizer: Any,
        *,
        quantize: str | None = None,
        sentence_pooling: str = "mean",
        normalize: bool = False,
        max_length: int | None = None,
        sentence_max_length: int | None = None,
    ):
        if quantize not in RECIPES:
            raise ModelError(f"quantize={quantize!r} is not an ONNX recipe of this version")
        self.graph = Path(graph)  # save copies it
        self.session = session(self.graph)
        self.quantize = quantize
        self.device = torch.device("cpu")
        self._setup(config, tokenizer, sentence_pooling, normalize, max_length, sentence_max_length)

    def __repr__(self) -> str:
        return (
            f"OnnxEmbedder({self.hf_config.model_type}, {self.quantize or 'fp32'}, dim={self.dim})"
        )

    def _forward(
        self, input_ids: torch.Tensor, mask: torch.Tensor, layers: tuple[int, ...]
    ) -> torch.Tensor:
        (hidden,) = self.session.run(
            ["hidden_states"],
            {"input_ids": input_ids.numpy(), "attention_mask": mask.numpy()},
        )
        return torch.from_numpy(hidden[list(layers)])

    def tunable(self) -> None:
        return None

    def word_layers(self, docs, batch_size=32, layers=None):
        raise ModelError(
            "an ONNX export cannot be trained: fine-tune the torch model it came from, then "
            "export that again, or use this one frozen (--mode frozen)"
        )

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> None:
        with atomic_dir(path, overwrite) as tmp:
            shutil.copyfile(self.graph, tmp / GRAPH)
            self.hf_config.save_pretrained(tmp)
            self.tokenizer.save_pretrained(tmp)
            write_manifest(tmp, self.family, self.config(), opset=OPSET)

    @classmethod
    def from_folder(cls, path: Path, **options: Any) -> OnnxEmbedder:
        settings = {**read_manifest(path).get("config", {}), **options}
        graph = path / GRAPH
        if not graph.is_file():
            raise ModelError(f"{path} has no {GRAPH}: export the model again")
        return cls(graph, read_config(path), read_tokenizer(path), **settings)


def session(graph: Path) -> Any:
    """An onnxruntime CPU session on torch's thread count (so OMP_NUM_THREADS rules both)."""
    ort = _onnxruntime()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = torch.get_num_threads()
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # its warnings are about the graph, not the user's input
    try:
        return ort.InferenceSession(os.fspath(graph), opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own bare exception types
        raise ModelError(
            f"{graph}: onnxruntime cannot read it ({type(e).__name__}: {e}); export the model again"
        ) from None


def export_onnx(
    model: str | os.PathLike, out: str | os.PathLike, overwrite: bool, quantize: str | None = None
) -> str:
    """Write ``model`` (a transformer) as an ONNX folder, optionally int8; returns a line."""
    from ..families import load

    _onnxruntime()
    if quantize not in RECIPES:
        raise InputError(f"--quantize {quantize}: use one of {', '.join(RECIPES[1:])}")
    check_dir(out, overwrite)  # before the minutes of loading and tracing
    inside(Path(out), [Path(model)])  # never into the folder it reads
    source = load(model)
    if type(source) is not TransformerEmbedder:
        hint = (
            "static tables export with --format word2vec-text or glove-text"
            if isinstance(source, StaticEmbedder)
            else "its folder is already what ctxembed.load and the CLI read"
        )
        raise InputError(
            f"--format onnx exports a transformer model; {model} is {source.family} ({hint})"
        )
    if source.quantize is not None:  # a folder saved with a torch int8 recipe
        raise InputError(
            f"{model} loads as torch {source.quantize}: export the fp32 model, with "
            "--quantize for ONNX's int8"
        )
    with atomic_dir(out, overwrite) as tmp:
        raw = tmp / "raw.onnx"
        _trace(source, raw)
        fused = _fuse(raw, source.hf_config)
        if quantize is None:
            fused.rename(tmp / GRAPH)
        else:
            _int8(fused, tmp / GRAPH, quantize)
        for extra in tmp.glob("*.onnx"):
            if extra.name != GRAPH:
                extra.unlink()
        source.hf_config.save_pretrained(tmp)
        source.tokenizer.save_pretrained(tmp)
        settings = {k: v for k, v in source.config().items() if k in SETTINGS}
        write_manifest(tmp, "onnx", {**settings, "quantize": quantize}, opset=OPSET)
        size = (tmp / GRAPH).stat().st_size / 2**20
    return f"wrote {out}: ONNX opset {OPSET}, {quantize or 'fp32'}, {size:.1f} MiB"


class _AllLayers(torch.nn.Module):
    """The encoder with one output: every hidden state, stacked."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.model(
            input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True
        )
        return torch.stack(out.hidden_states)


def _trace(source: TransformerEmbedder, path: Path) -> None:
    import warnings

    example = torch.tensor([source._prefix + [source._pad_id] * 3 + source._suffix] * 2)
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # the tracer's notes on Python ifs it keeps dynamic
        torch.onnx.export(
            _AllLayers(source.model).eval(),
            (example, torch.ones_like(example)),
            os.fspath(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["hidden_states"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "width"},
                "attention_mask": {0: "batch", 1: "width"},
                "hidden_states": {1: "batch", 2: "width"},
            },
            opset_version=OPSET,
            dynamo=False,  # the TorchScript exporter handles HF encoders without extra deps
        )


def _fuse(raw: Path, config: Any) -> Path:
    """onnxruntime's offline transformer fusions, for the BERT-shaped graphs it knows."""
    if config.model_type not in ("bert", "roberta", "xlm-roberta", "camembert"):
        return raw
    from onnxruntime.transformers import optimizer

    fused = raw.with_name("fused.onnx")
    opt = optimizer.optimize_model(
        os.fspath(raw),
        model_type="bert",
        num_heads=config.num_attention_heads,
        hidden_size=config.hidden_size,
        opt_level=1,
    )
    opt.save_model_to_file(os.fspath(fused))
    return fused


def _int8(src: Path, dst: Path, recipe: str) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    matmuls = [n.name for n in onnx.load(os.fspath(src)).graph.node if n.op_type == "MatMul"]
    keep = []
    if recipe == "int8-early-ffn-fp32":
        keep = [n for n in matmuls for k in range(EARLY_LAYERS) if _ffn_output(n, k)]
        if not keep:
            raise InputError(
                f"--quantize {recipe}: this model's feed-forward output layers are not named as "
                "BERT's (layer.N.output.dense); use --quantize int8"
            )
    with _quiet_root_logger():  # it logs a pre-processing tip to the root logger
        quantize_dynamic(
            os.fspath(src),
            os.fspath(dst),
            per_channel=True,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=keep,
            # the fused operators are outside ONNX's type inference: their outputs are float
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )


@contextlib.contextmanager
def _quiet_root_logger():
    """Root-logger warnings off for a while, without configuring the user's logging."""
    root = logging.getLogger()
    null, level = logging.NullHandler(), root.level
    root.addHandler(null)  # a handler present: logging.warning() does not call basicConfig
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)
        root.removeHandler(null)


def _ffn_output(node: str, layer: int) -> bool:
    return f"layer.{layer}/output/dense/" in node


def _onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise ModelError("ONNX models need onnxruntime: pip install 'ctxembed[onnx]'") from None
    return onnxruntime


FAMILY = Family(
    "onnx",
    embedder=OnnxEmbedder,
    load_options=SETTINGS,
    exports={"onnx": export_onnx},
)
