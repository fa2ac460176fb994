"""Data parallelism for the shared loop, under ``torchrun``.

``torchrun --nproc-per-node N -m ctxembed.cli train FAMILY ...`` starts N copies of the same
command; each reads the same data and builds the same batches. ``train.loop`` then gives
each optimizer step ``N`` batches (``CTXEMBED_BATCHES_PER_STEP`` or
``LoopConfig.batches_per_step`` fix another number), one per process; every process computes
its batches' gradients, one all-reduce sums them (what DistributedDataParallel does, done
here on the parameters so that every family's loss function, which calls its modules
directly, needs no change), and all processes take the same step. Only rank 0 writes
checkpoints and the model. One process group serves both devices: gloo for CPU tensors,
NCCL for CUDA ones (each process on the GPU ``LOCAL_RANK``).
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from ..errors import InputError

STEP_VARIABLE = "CTXEMBED_BATCHES_PER_STEP"


def world() -> tuple[int, int]:
    """``(rank, size)``; joins the process group that torchrun's environment describes."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size > 1 and not dist.is_initialized():
        backend = os.environ.get("CTXEMBED_DIST_BACKEND")
        if backend is None:
            backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend)
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    """Rank 0, or no process group: the process that writes files and prints."""
    return not dist.is_initialized() or dist.get_rank() == 0


def single_process(what: str) -> None:
    """Refuse to run ``what`` under torchrun with more than one process."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise InputError(
            f"{what} does not train data-parallel: run it in one process, without torchrun"
        )


def batches_per_step(configured: int | None, size: int) -> int:
    """Batches in one optimizer step: the config's, the environment's, or one per process."""
    group = configured or int(os.environ.get(STEP_VARIABLE, "0") or 0) or size
    if group < 1 or group % size:
        raise InputError(
            f"{group} batches per step cannot be shared by {size} processes: set "
            f"{STEP_VARIABLE} to a multiple of {size}"
        )
    return group


def broadcast(model: torch.nn.Module) -> None:
    """Every process starts from rank 0's weights (and buffers)."""
    for t in [*model.parameters(), *model.buffers()]:
        dist.broadcast(t.data, src=0)


def sum_gradients(params: list[torch.nn.Parameter]) -> None:
    """One all-reduce of every gradient, flattened. A parameter no process used this step
    keeps no gradient (as in one process: the optimizer then leaves it alone); a process
    that did not use it adds zeros."""
    used = torch.tensor([p.grad is not None for p in params], dtype=torch.float32)
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    dist.all_reduce(used)
    at = 0
    for p, g, u in zip(params, grads, used.tolist(), strict=True):
        n = g.numel()
        p.grad = flat[at : at + n].view_as(p) if u else None
        at += n


def total(value: float) -> float:
    """The sum of ``value`` over all processes."""
    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item())
