"""The shared training loop for neural families: read it top to bottom.

Each epoch walks the batches in an order fixed by ``(seed, epoch)`` (or, where ``batches``
is a function of the epoch, in the order it gives); every step is forward, backward,
gradient clipping, optimizer step (and learning-rate schedule step). With ``opt=None`` the
loss function updates the model itself (GloVe's per-pair AdaGrad). A checkpoint (model,
optimizer, RNG, position) is written every ``checkpoint_every`` steps and at the end of each
epoch (after its validation); ``resume=True`` continues from it and reproduces an
uninterrupted run (the RNG state carries dropout and sampling over). With ``select`` (a key of
the validation results, higher is better) the loop keeps the best epoch's weights, stops once
``patience`` epochs pass without a better one (early stopping), and ends with the best weights
in the model; the checkpoint carries them, so a resumed run stops and ends the same way.

A step may take several batches (``batches_per_step``; by default one per process): their
losses are averaged, and under ``torchrun`` each process takes its share of them and the
gradients are summed across processes (``train.distributed``). Positions are counted in
batches, so a checkpoint resumes under another number of processes.
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
from . import distributed

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
    max_minutes: float | None = None  # stop after the step that passes this much training time
    # the family's training settings a resume must share with its checkpoint (resume_key)
    settings: dict[str, Any] | None = None
    select: str | None = None  # validation key to keep the best epoch by (higher is better)
    patience: int | None = None  # epochs without a better `select` before stopping
    batches_per_step: int | None = None  # None: one per process (torchrun's world size)

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
    valid_seconds: float = 0.0  # of ``seconds``, the time spent validating
    valid: list[dict[str, float]] = field(default_factory=list)  # per epoch
    best: dict[str, float] | None = None  # the validation results of the kept epoch (select)
    stopped: str | None = None  # "patience" or "budget" (max_steps, max_minutes) if cut short


def optimizer_steps(n_batches: int, epochs: int, batches_per_step: int | None = None) -> int:
    """The optimizer steps of ``epochs`` over ``n_batches``: what a learning-rate schedule is
    sized by (under torchrun a step takes one batch per process)."""
    _, size = distributed.world()
    return epochs * math.ceil(n_batches / distributed.batches_per_step(batches_per_step, size))


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    return torch.randperm(
        n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    ).tolist()


META_KEYS = ("step", "epoch", "batch", "n_batches", "seed", "losses")


def resume_key(cfg: Any) -> dict[str, Any]:
    """A training config's settings that a resumed run must share with the checkpoint: all
    but how long to train (epochs may grow, max_steps and checkpoint_every may change)."""
    fields = asdict(cfg) if is_dataclass(cfg) else dict(cfg)
    budget = ("epochs", "max_steps", "max_minutes", "checkpoint_every", "batches_per_step")
    keep = {k: v for k, v in fields.items() if k not in budget}
    return json.loads(json.dumps(keep))  # as the checkpoint stores it (tuples become lists)


BEST = "best.safetensors"  # the kept epoch's weights, inside the checkpoint


def save_checkpoint(
    folder: Path,
    model: torch.nn.Module,
    opt: torch.optim.Optimizer | None,
    meta: dict,
    best: dict[str, torch.Tensor] | None = None,
) -> None:
    with atomic_dir(folder, overwrite=True) as tmp:
        try:
            save_model(model, str(tmp / "model.safetensors"))  # handles tied weights
        except RuntimeError:  # views into one flat buffer (cuDNN's LSTM weights): copies
            state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            save_file(state, str(tmp / "model.safetensors"))
        if best is not None:
            save_file({k: v.contiguous() for k, v in best.items()}, str(tmp / BEST))
        if opt is not None:
            torch.save(opt.state_dict(), tmp / "optimizer.pt")
        rng = {"rng": torch.get_rng_state()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():  # dropout on a GPU
            rng |= {f"cuda{i}": t for i, t in enumerate(torch.cuda.get_rng_state_all())}
        save_file(rng, str(tmp / "rng.safetensors"))
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
        try:
            load_model(model, str(folder / "model.safetensors"))
        except RuntimeError:  # views of one buffer (cuDNN's LSTM) were saved as copies
            model.load_state_dict(load_file(str(folder / "model.safetensors")), strict=True)
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
        rng = load_file(str(folder / "rng.safetensors"))
        torch.set_rng_state(rng["rng"])
        cuda = [rng[k] for k in sorted(rng) if k.startswith("cuda")]
        if cuda and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])
        if (folder / BEST).is_file():
            meta["best_state"] = load_file(str(folder / BEST))
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
    after_step: Callable[[], None] | None = None,
) -> History:
    """``batches``: a sequence walked in a seeded order each epoch, or a sized callable giving
    each epoch's batches in their order. ``data``: what the checkpoint must have been made
    with (``resume_key`` of the training config, data sizes) beyond the number of batches and
    the seed; a resume with anything else is refused. ``after_step`` runs after every
    optimizer step (an average of the weights, kept in ``model`` so checkpoints carry it)."""
    history = History()
    rank, size = distributed.world()
    group = distributed.batches_per_step(cfg.batches_per_step, size)
    if size > 1 and opt is None:
        raise InputError(
            "this trainer updates its weights inside its loss (no optimizer to share "
            "gradients through): run it in one process, without torchrun"
        )
    per_epoch = callable(batches)
    n_batches = len(batches)  # type: ignore[arg-type]
    data = json.loads(json.dumps({**(cfg.settings or {}), **(data or {})})) or None
    step, first_epoch, skip = 0, 0, 0
    # the kept epoch's weights (cfg.select): over all validations, and over whole epochs only
    # (a validation after a cut-short epoch counts for this run's end, not for a resume)
    best: dict[str, torch.Tensor] | None = None
    best_whole: dict[str, torch.Tensor] | None = None
    found = resume and checkpoint is not None and (checkpoint / CHECKPOINT).exists()
    if size > 1 and distributed.total(float(found)) not in (0.0, float(size)):
        raise InputError(
            f"{checkpoint}: some processes see this checkpoint and some do not: on several "
            "machines, put --out on a disk they all share"
        )
    if found:
        meta = load_checkpoint(checkpoint, model, opt)  # type: ignore[arg-type]
        if (meta["n_batches"], meta["seed"], meta.get("data")) != (n_batches, cfg.seed, data):
            raise InputError(
                f"{checkpoint}: made with other settings or data ({_differences(meta, data, n_batches, cfg.seed)}); "
                "resume with the checkpoint's settings, or remove it"
            )
        if meta.get("batches_per_step", 1) != group:
            raise InputError(
                f"{checkpoint}: made with {meta.get('batches_per_step', 1)} batches per step, "
                f"this run takes {group} (one per process): resume with as many processes, "
                f"or fix the step for both with {distributed.STEP_VARIABLE}"
            )
        step, first_epoch, skip = meta["step"], meta["epoch"], meta["batch"]
        if first_epoch > cfg.epochs:
            raise InputError(
                f"{checkpoint}: the checkpoint is at epoch {first_epoch}, past --epochs "
                f"{cfg.epochs}: raise --epochs or remove it"
            )
        history.losses = meta["losses"]
        history.valid = meta.get("valid", [])
        best = best_whole = meta.get("best_state")
        if scheduler is not None:  # a schedule is a function of the step: replay it
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for _ in range(step):
                    scheduler.step()
    else:
        torch.manual_seed(cfg.seed)
    if size > 1:
        distributed.broadcast(model)  # one set of weights, whatever each process built
    per_epoch_steps = math.ceil(n_batches / group)
    planned = cfg.epochs * per_epoch_steps
    total = planned if cfg.max_steps is None else min(cfg.max_steps, planned)
    if resume and step and step >= total and (history.valid or validate is None):
        return _finish(history, model, cfg, best)  # a finished run: nothing left to do

    def save(epoch: int, batch: int) -> None:
        whole = [v for v in history.valid if v["epoch"] <= epoch]  # not a cut-short epoch's
        meta = {
            "step": step,
            "epoch": epoch,
            "batch": batch,
            "n_batches": n_batches,
            "seed": cfg.seed,
            "losses": history.losses,
            "valid": whole,
            "data": data,
        }
        if group != 1:  # absent means 1, as in checkpoints made before it was recorded
            meta["batches_per_step"] = group
        if rank == 0:
            save_checkpoint(checkpoint, model, opt, meta, best_whole)  # type: ignore[arg-type]

    bar = tqdm(total=total, initial=step, desc=desc, unit="step", disable=not progress or rank > 0)
    start = time.perf_counter()
    for epoch in range(first_epoch, cfg.epochs):
        if _patience_spent(history.valid, cfg):
            history.stopped = "patience"
            break
        if per_epoch:  # the batches of this epoch, in their order
            epoch_batches, order = batches(epoch), range(n_batches)  # type: ignore[operator]
        else:
            epoch_batches, order = batches, epoch_order(n_batches, cfg.seed, epoch)
        b = skip if epoch == first_epoch else 0
        while b < len(order) and step < total:
            model.train()
            step_batches = [order[i] for i in range(b, min(b + group, len(order)))]
            if rank:  # dropout and sampling of its own, the same after a resume
                torch.manual_seed(cfg.seed * 1_000_003 + 7919 * step + rank)
            if opt is not None:
                opt.zero_grad(set_to_none=True)
            loss_sum, n_tokens, nlls = 0.0, 0, []
            for i in step_batches[rank::size]:  # this process's share of the step
                loss, tokens, nll = loss_fn(epoch_batches[i])  # type: ignore[index]
                # before the step (with opt=None the loss function has stepped): nothing saved
                if not torch.isfinite(loss) and size == 1:
                    raise diverged(f"step {step + 1}", float(loss.detach()))
                if opt is not None:
                    (loss / len(step_batches)).backward()
                loss_sum += float(loss.detach())
                n_tokens += tokens
                if nll is not None:
                    nlls.append(nll)
            if size > 1:  # every process stops on a non-finite loss, not only the one that saw it
                loss_sum, n_tokens = distributed.total(loss_sum), int(distributed.total(n_tokens))
                if not math.isfinite(loss_sum):
                    raise diverged(f"step {step + 1}", loss_sum)
                distributed.sum_gradients([p for p in model.parameters() if p.requires_grad])
            if opt is not None:
                if cfg.clip is not None:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
                opt.step()
            if scheduler is not None:
                scheduler.step()
            if after_step is not None:
                after_step()
            step += 1
            b += len(step_batches)
            nll = sum(nlls) / len(nlls) if nlls else None
            history.losses.append(loss_sum / len(step_batches))
            history.tokens += n_tokens
            rate = history.tokens / max(time.perf_counter() - start, 1e-9)
            shown = {"loss": f"{history.losses[-1]:.3f}"}
            if nll is not None:
                shown["ppl"] = f"{math.exp(min(nll, 50)):.1f}"
            bar.set_postfix(**shown, tok_s=f"{rate:,.0f}")
            bar.update(1)
            if cfg.max_minutes is not None:
                over = float(time.perf_counter() - start > 60 * cfg.max_minutes)
                if (distributed.total(over) if size > 1 else over) > 0:
                    total = step  # out of time: validate, checkpoint and stop as at max_steps
            if (
                checkpoint is not None
                and b < len(order)
                and step < total
                and cfg.checkpoint_every
                and step % cfg.checkpoint_every == 0
            ):
                save(epoch, b)
        done = b == len(order)
        if validate is not None:
            model.eval()
            t0 = time.perf_counter()
            with torch.no_grad():
                history.valid.append({"epoch": epoch + 1, **validate()})
            history.valid_seconds += time.perf_counter() - t0
            if rank == 0:
                bar.write(
                    f"epoch {epoch + 1}: "
                    + ", ".join(
                        f"{k} {v:.2f}" for k, v in history.valid[-1].items() if k != "epoch"
                    )
                )
            if (
                cfg.select is not None
                and _best_index(history.valid, cfg.select) == len(history.valid) - 1
            ):
                best = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
                best_whole = best if done else best_whole
        if checkpoint is not None:  # after validation, so a resume never skips one
            save(epoch + done, 0 if done else b)
        if step >= total:
            break
    bar.close()
    if history.stopped is None and step < planned and _patience_spent(history.valid, cfg):
        history.stopped = "patience"
    elif history.stopped is None and step < planned:
        history.stopped = "budget"
    history.seconds = time.perf_counter() - start
    return _finish(history, model, cfg, best)


def _finish(history: History, model: torch.nn.Module, cfg: LoopConfig, best) -> History:
    """With ``select``: the best epoch's results, and its weights back in the model."""
    if cfg.select is not None and history.valid:
        history.best = history.valid[_best_index(history.valid, cfg.select)]
        if best is not None:
            model.load_state_dict(best)
    return history


def _differences(meta: dict, data: dict | None, n_batches: int, seed: int) -> str:
    """What differs between a checkpoint and this run, as ``name: then -> now``."""
    then = {**(meta.get("data") or {}), "batches": meta["n_batches"], "seed": meta["seed"]}
    now = {**(data or {}), "batches": n_batches, "seed": seed}
    keys = sorted(set(then) | set(now))
    return "; ".join(
        f"{k}: {then.get(k)!r} -> {now.get(k)!r}" for k in keys if then.get(k) != now.get(k)
    )


def _best_index(valid: list[dict[str, float]], key: str) -> int:
    """The first epoch with the highest ``key`` (a later tie does not replace it)."""
    if key not in valid[0]:
        raise InputError(f"validation gives {', '.join(valid[0])}, not {key!r} to select by")

    def score(i: int) -> tuple[float, int]:  # NaN (no correlation to measure) is never best
        v = valid[i][key]
        return (v if v == v else -math.inf, -i)

    return max(range(len(valid)), key=score)


def _patience_spent(valid: list[dict[str, float]], cfg: LoopConfig) -> bool:
    if cfg.select is None or cfg.patience is None or not valid:
        return False
    return len(valid) - 1 - _best_index(valid, cfg.select) >= cfg.patience
