"""``ctxembed index build`` and ``ctxembed index search``."""

from __future__ import annotations

import argparse
import json

from ..errors import InputError
from ..options import overwrite, positive

HELP = "embed a corpus into a searchable index (in-process or on Ray) and search it by context"
DESCRIPTION = (
    "build: embed CORPUS files (one text per line, or JSON Lines; .gz allowed) into DIR: "
    "Parquet shards and a FAISS index; run the same command again to resume. search: the "
    "uses of --word nearest to its use in --like, or the texts nearest to --sentence."
)


def add_arguments(s: argparse.ArgumentParser) -> None:
    sub = s.add_subparsers(dest="action", required=True, metavar="ACTION")
    b = sub.add_parser("build", help="embed a corpus into DIR (resumable)")
    b.add_argument("--model", required=True, help="a name from `ctxembed models` or a path")
    b.add_argument("--corpus", required=True, nargs="+", help="text, JSON Lines, .gz")
    b.add_argument("--out", required=True, metavar="DIR")
    what = b.add_mutually_exclusive_group()
    what.add_argument("--words", dest="mode", action="store_const", const="words")
    what.add_argument("--sentences", dest="mode", action="store_const", const="sentences")
    b.set_defaults(mode="words")
    b.add_argument(
        "--ray-address",
        default="none",
        help="none (this process, the default), local (start Ray here), auto (a running "
        "cluster) or a cluster address",
    )
    b.add_argument("--actors", type=positive, default=2, help="Ray actors, one model each")
    b.add_argument("--shard-size", type=positive, default=2000, help="texts per shard")
    b.add_argument("--batch-size", type=positive, default=32)
    b.add_argument("--only-words", nargs="+", default=None, help="keep these words' rows only")
    b.add_argument(
        "--flat-max", type=positive, default=200_000, help="vectors searched exactly; HNSW above"
    )
    b.add_argument("--quiet", action="store_true")
    overwrite(b, "an index of another model or corpus in DIR")
    b.set_defaults(run=run_build)

    q = sub.add_parser("search", help="search an index by a word in context, or a sentence")
    q.add_argument("index", metavar="DIR")
    q.add_argument("--word", help="the word to find uses of (with --like)")
    q.add_argument("--like", help="a sentence that uses --word in the sense wanted")
    q.add_argument("--sentence", help="find the texts nearest to this one (a --sentences index)")
    q.add_argument("-k", type=positive, default=10)
    q.add_argument("--json", action="store_true", help="one JSON object per hit")
    q.set_defaults(run=run_search)


def run(args: argparse.Namespace) -> int:
    return args.run(args)


def run_build(args: argparse.Namespace) -> int:
    from ..families import check_models
    from .index import build_index

    check_models([args.model])
    address = None if args.ray_address == "none" else args.ray_address
    log = (lambda _: None) if args.quiet else print
    info = build_index(
        args.model,
        args.corpus,
        args.out,
        mode=args.mode,
        ray_address=address,
        actors=args.actors,
        shard_size=args.shard_size,
        batch_size=args.batch_size,
        only_words=args.only_words,
        flat_max=args.flat_max,
        overwrite=args.overwrite,
        progress=not args.quiet,
        log=log,
    )
    recall = f", recall@10 {info['recall_at_10']:.3f}" if "recall_at_10" in info else ""
    print(
        f"index of {info['vectors']:,} {args.mode[:-1]} vectors ({info['kind']}{recall}); "
        f"{info['shards_embedded']} shards embedded in {info['seconds']:.1f}s -> {args.out}"
    )
    return 0


def run_search(args: argparse.Namespace) -> int:
    from .index import Index

    if args.sentence is not None and (args.word or args.like):
        raise InputError("give --sentence, or --word with --like, not both")
    if args.sentence is None and not (args.word and args.like):
        raise InputError('give --word WORD --like "a sentence using it", or --sentence "..."')
    index = Index(args.index)
    if args.sentence is not None:
        hits = index.search_sentence(args.sentence, args.k)
    else:
        hits = index.search_word(args.word, args.like, args.k)
    for h in hits:
        if args.json:
            print(json.dumps(h.to_json(), ensure_ascii=False))
        elif h.word is None:
            print(f"{h.score:.4f}  text {h.text_id}  {snippet(h.text, 0, 0, 160)}")
        else:
            print(
                f"{h.score:.4f}  text {h.text_id} {h.start}-{h.end}  {snippet(h.text, h.start, h.end)}"
            )
    return 0


def snippet(text: str, start: int, end: int, width: int = 60) -> str:
    """The text around ``[start, end)``, the word in brackets (the whole text if short)."""
    if start < 0:  # pre-tokenized: no offsets
        return text[: 2 * width]
    if end == start:
        return text if len(text) <= width else text[:width] + " ..."
    left = text[max(0, start - width) : start]
    right = text[end : end + width]
    return (
        ("... " if start > width else "")
        + f"{left}[{text[start:end]}]{right}"
        + (" ..." if end + width < len(text) else "")
    ).replace("\n", " ")
