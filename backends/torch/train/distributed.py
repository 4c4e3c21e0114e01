"""Running under torchrun: one process per device, DistributedDataParallel, summed metrics.

`torchrun --nproc_per_node 2 -m netspec train spec.net` sets RANK, WORLD_SIZE and
LOCAL_RANK; `setup` sees them and joins the process group (gloo on CPU, nccl on CUDA).
Every process builds the same model from the same seed, DDP averages the gradients,
and each takes its slice of every global batch, so the optimisation matches one
process with the same global batch size. Only rank 0 writes files and prints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    local_world_size: int = 1  # processes on this machine: they share its cores for data workers

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        from .data import TrainError

        raise TrainError(f"--device {name}: this torch ({torch.__version__}) sees no CUDA device",
                         help="train with --device cpu, or install a CUDA build of torch")
    if name == "cuda":
        return torch.device("cuda", local_rank)
    return torch.device(name)


def setup(device: str = "auto") -> Context:
    """Join the process group when launched by torchrun; a single process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Context(device=pick_device(device))
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    dev = pick_device(device, local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return Context(rank=rank, world_size=world, local_rank=local_rank, device=dev,
                   local_world_size=int(os.environ.get("LOCAL_WORLD_SIZE", "1")))


def sync_batch_norm(model: nn.Module, ctx: Context, say=lambda s: None) -> nn.Module:
    """--sync-bn: batch statistics over the global batch, not each process's slice of it.

    torch's SyncBatchNorm runs on CUDA devices only; with one process every batch norm
    already sees the whole batch, and the option changes nothing.
    """
    if not ctx.enabled:
        say("--sync-bn: one process, so batch norm already sees the whole batch")
        return model
    if ctx.device.type != "cuda":
        from .data import TrainError

        raise TrainError("--sync-bn needs CUDA devices: torch's SyncBatchNorm does not run on the CPU",
                         help="leave out --sync-bn on CPU processes (each normalises its own slice)")
    return nn.SyncBatchNorm.convert_sync_batchnorm(model)


def wrap(model: nn.Module, ctx: Context) -> nn.Module:
    """DDP over the trainable parameters (frozen ones take no part in the gradient all-reduce)."""
    if not ctx.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def unwrap(model: nn.Module) -> nn.Module:
    from torch.nn.parallel import DistributedDataParallel

    return model.module if isinstance(model, DistributedDataParallel) else model


def all_sum(values: torch.Tensor, ctx: Context) -> torch.Tensor:
    """Element-wise sum over processes (metrics: loss sums, counts)."""
    if ctx.enabled:
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def all_max(values: torch.Tensor, ctx: Context) -> torch.Tensor:
    """Element-wise maximum over processes (a flag any process may raise)."""
    if ctx.enabled:
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.MAX)
    return values


def divergence(model: nn.Module, ctx: Context) -> float:
    """The largest difference between this process's parameters and rank 0's, over all processes.

    DDP keeps replicas in step by construction; this checks it (0.0 when they agree).
    """
    if not ctx.enabled:
        return 0.0
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).to(ctx.device)
    ref = flat.clone()
    dist.broadcast(ref, src=0)
    worst = (flat - ref).abs().max().reshape(1)
    dist.all_reduce(worst, op=dist.ReduceOp.MAX)
    return float(worst)


def barrier(ctx: Context) -> None:
    if ctx.enabled:
        dist.barrier()


def teardown(ctx: Context) -> None:
    """Leave the process group, once every DDP wrapper has been dropped by the caller."""
    if ctx.enabled and dist.is_initialized():
        import gc

        # A DDP reducer still alive (in a reference cycle) when the interpreter exits holds
        # gloo work whose threads then abort the process ("terminate called without an
        # active exception", about one run in ten with torch 2.13): collect it first.
        gc.collect()
        dist.barrier()
        dist.destroy_process_group()
