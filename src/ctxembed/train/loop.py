"""The shared training loop for neural families: read it top to bottom.

Each epoch walks the batches in an order fixed by ``(seed, epoch)`` (or, where ``batches``
is a function of the epoch, in the order it gives); every step is forward, backward,
gradient clipping, optimizer step (and learning-rate schedule step). With ``opt=None`` the
loss function updates the model itself (GloVe's per-pair AdaGrad). A checkpoint (model,
optimizer, RNG, position) is written every ``checkpoint_every`` steps and at the end of each
epoch; ``resume=True`` continues from it and reproduces an uninterrupted run (the RNG state
carries dropout and sampling over).
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, load_model, save_file, save_model
from tqdm.auto import tqdm

from ..errors import InputError, diverged
from ..io import CHECKPOINT, atomic_dir

# a step's loss function returns (loss to minimise, tokens it covered, mean NLL per token
# for the progress bar's perplexity, or None where the loss is not a likelihood)
LossFn = Callable[[Any], tuple[torch.Tensor, int, float | None]]


@dataclass
class LoopConfig:
    epochs: int = 1  # the learning rate lives in the optimizer the caller builds
    clip: float | None = 10.0  # max gradient norm; None: no clipping
    seed: int = 0
    checkpoint_every: int = 500  # steps; 0 = only at the end of each epoch
    max_steps: int | None = None  # stop early (tests, time budgets)
    # the family's training settings a resume must share with its checkpoint (resume_key)
    settings: dict[str, Any] | None = None

    @classmethod
    def like(cls, cfg: Any) -> LoopConfig:
        """The loop settings a family's training config holds under the same names, and the
        whole config as the settings a resumed run must keep (another --lr is refused)."""
        own = {f: getattr(cfg, f) for f in cls.__dataclass_fields__ if hasattr(cfg, f)}
        return cls(**own, settings=resume_key(cfg))


@dataclass
class History:
    losses: list[float] = field(default_factory=list)  # per step
    tokens: int = 0
    seconds: float = 0.0
    valid: list[dict[str, float]] = field(default_factory=list)  # per epoch


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    return torch.randperm(
        n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    ).tolist()


META_KEYS = ("step", "epoch", "batch", "n_batches", "seed", "losses")


def resume_key(cfg: Any) -> dict[str, Any]:
    """A training config's settings that a resumed run must share with the checkpoint: all
    but how long to train (epochs may grow, max_steps and checkpoint_every may change)."""
    fields = asdict(cfg) if is_dataclass(cfg) else dict(cfg)
    keep = {k: v for k, v in fields.items() if k not in ("epochs", "max_steps", "checkpoint_every")}
    return json.loads(json.dumps(keep))  # as the checkpoint stores it (tuples become lists)


def save_checkpoint(
    folder: Path, model: torch.nn.Module, opt: torch.optim.Optimizer | None, meta: dict
) -> None:
    with atomic_dir(folder, overwrite=True) as tmp:
        save_model(model, str(tmp / "model.safetensors"))  # handles tied weights
        if opt is not None:
            torch.save(opt.state_dict(), tmp / "optimizer.pt")
        save_file({"rng": torch.get_rng_state()}, str(tmp / "rng.safetensors"))
        (tmp / CHECKPOINT).write_text(json.dumps(meta))


def load_checkpoint(
    folder: Path, model: torch.nn.Module, opt: torch.optim.Optimizer | None
) -> dict:
    try:
        meta = json.loads((folder / CHECKPOINT).read_text())
        missing = [k for k in META_KEYS if k not in meta]
        if missing:
            raise ValueError(f"its {CHECKPOINT} lacks {', '.join(missing)}")
    except (OSError, ValueError, TypeError) as e:
        raise InputError(f"{folder}: cannot resume from this checkpoint ({e})") from None
    try:
        load_model(model, str(folder / "model.safetensors"))
    except RuntimeError:  # its message lists every mismatched tensor: kilobytes of names
        raise InputError(
            f"{folder}: this checkpoint holds another model (another --config or size?): "
            "resume with the options it was made with, or remove it"
        ) from None
    except (OSError, SafetensorError) as e:
        raise InputError(f"{folder}: cannot resume from this checkpoint ({e})") from None
    try:
        if opt is not None:
            opt.load_state_dict(torch.load(folder / "optimizer.pt", weights_only=True))
        torch.set_rng_state(load_file(str(folder / "rng.safetensors"))["rng"])
    except (OSError, ValueError, KeyError, RuntimeError, SafetensorError) as e:
        raise InputError(f"{folder}: cannot resume from this checkpoint ({e})") from None
    return meta


def train(
    model: torch.nn.Module,
    opt: torch.optim.Optimizer | None,
    batches: Sequence[Any] | Callable[[int], Sequence[Any]],
    loss_fn: LossFn,
    cfg: LoopConfig,
    checkpoint: Path | None = None,
    resume: bool = False,
    validate: Callable[[], dict[str, float]] | None = None,
    progress: bool = True,
    desc: str = "training",
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    data: dict[str, Any] | None = None,
) -> History:
    """``batches``: a sequence walked in a seeded order each epoch, or a sized callable giving
    each epoch's batches in their order. ``data``: what the checkpoint must have been made
    with (``resume_key`` of the training config, data sizes) beyond the number of batches and
    the seed; a resume with anything else is refused."""
    history = History()
    per_epoch = callable(batches)
    n_batches = len(batches)  # type: ignore[arg-type]
    data = json.loads(json.dumps({**(cfg.settings or {}), **(data or {})})) or None
    step, first_epoch, skip = 0, 0, 0
    if resume and checkpoint is not None and (checkpoint / CHECKPOINT).exists():
        meta = load_checkpoint(checkpoint, model, opt)
        if (meta["n_batches"], meta["seed"], meta.get("data")) != (n_batches, cfg.seed, data):
            raise InputError(
                f"{checkpoint}: made for other data or another seed; remove it or fix the options"
            )
        step, first_epoch, skip = meta["step"], meta["epoch"], meta["batch"]
        if first_epoch > cfg.epochs:
            raise InputError(
                f"{checkpoint}: the checkpoint is at epoch {first_epoch}, past --epochs "
                f"{cfg.epochs}: raise --epochs or remove it"
            )
        history.losses = meta["losses"]
        if scheduler is not None:  # a schedule is a function of the step: replay it
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for _ in range(step):
                    scheduler.step()
    else:
        torch.manual_seed(cfg.seed)
    total = cfg.epochs * n_batches
    total = total if cfg.max_steps is None else min(cfg.max_steps, total)
    bar = tqdm(total=total, initial=step, desc=desc, unit="step", disable=not progress)
    start = time.perf_counter()
    for epoch in range(first_epoch, cfg.epochs):
        if per_epoch:  # the batches of this epoch, in their order
            epoch_batches, order = batches(epoch), range(n_batches)  # type: ignore[operator]
        else:
            epoch_batches, order = batches, epoch_order(n_batches, cfg.seed, epoch)
        for b in range(skip if epoch == first_epoch else 0, len(order)):
            if step >= total:
                break
            model.train()
            loss, n_tokens, nll = loss_fn(epoch_batches[order[b]])  # type: ignore[index]
            # before the step (with opt=None the loss function has stepped): nothing is saved
            if not torch.isfinite(loss):
                raise diverged(f"step {step + 1}", float(loss.detach()))
            if opt is not None:
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.clip is not None:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
                opt.step()
            if scheduler is not None:
                scheduler.step()
            step += 1
            history.losses.append(float(loss.detach()))
            history.tokens += n_tokens
            rate = history.tokens / max(time.perf_counter() - start, 1e-9)
            shown = {"loss": f"{history.losses[-1]:.3f}"}
            if nll is not None:
                shown["ppl"] = f"{math.exp(min(nll, 50)):.1f}"
            bar.set_postfix(**shown, tok_s=f"{rate:,.0f}")
            bar.update(1)
            done_epoch = b + 1 == len(order)
            if checkpoint is not None and (
                done_epoch
                or step == total
                or (cfg.checkpoint_every and step % cfg.checkpoint_every == 0)
            ):
                meta = {
                    "step": step,
                    "epoch": epoch + done_epoch,
                    "batch": 0 if done_epoch else b + 1,
                    "n_batches": n_batches,
                    "seed": cfg.seed,
                    "losses": history.losses,
                    "data": data,
                }
                save_checkpoint(checkpoint, model, opt, meta)
        if validate is not None:
            model.eval()
            with torch.no_grad():
                history.valid.append({"epoch": epoch + 1, **validate()})
            bar.write(
                f"epoch {epoch + 1}: "
                + ", ".join(f"{k} {v:.2f}" for k, v in history.valid[-1].items() if k != "epoch")
            )
        if step >= total:
            break
    bar.close()
    history.seconds = time.perf_counter() - start
    return history
