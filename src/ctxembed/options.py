"""Option types and helpers the commands share (a lower layer: no command, no family)."""

from __future__ import annotations

import argparse
import math

from .embedder import ScalarMix
from .errors import CtxembedError, InputError


class OptionError(CtxembedError):
    """An option that parses but cannot be used. Not a ValueError, so argparse lets it
    through to ``main``, which exits 1 with the message rather than 2 with a usage line."""


def positive(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def count(value: str) -> int:
    n = int(value)
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {n}")
    return n


def positive_float(value: str) -> float:
    x = float(value)
    if not (math.isfinite(x) and x > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {value}")
    return x


def fraction(value: str) -> float:
    x = float(value)
    if not 0 <= x < 1:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, got {value}")
    return x


def overwrite(p: argparse.ArgumentParser, what: str = "an earlier ctxembed output folder") -> None:
    p.add_argument("--overwrite", action="store_true", help=f"replace {what}")


def layer_option(value: str):
    """``-1``, ``0,2,4``, ``all`` or ``mix:w0,w1,...[@gamma]``."""
    v = value.strip()
    if v == "all":
        return "all"
    try:
        if v.startswith("mix:"):
            body, _, gamma = v[4:].partition("@")
            weights = [float(x) for x in body.split(",")]
            try:
                return ScalarMix(weights, float(gamma or 1.0))
            except InputError as e:  # ScalarMix checks its weights (finite, at least one)
                raise OptionError(f"--layers {value}: {e}") from None
        idx = [int(x) for x in v.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r}: use an index (-1), indices (0,2,4), 'all' or 'mix:w0,w1,...[@gamma]'"
        ) from None
    return idx[0] if len(idx) == 1 else idx


def show_defaults(parser: argparse.ArgumentParser) -> None:
    """End every option's help with its default, in this parser and its subcommands
    (argparse's ArgumentDefaultsHelpFormatter skips options that have no help text)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                show_defaults(sub)
        elif (
            action.option_strings
            and action.default is not None
            and action.default is not False
            and action.default != argparse.SUPPRESS
            and "%(default)" not in (action.help or "")
        ):
            action.help = (
                f"{action.help} (default: %(default)s)" if action.help else "default: %(default)s"
            )
