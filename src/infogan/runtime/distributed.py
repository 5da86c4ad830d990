"""Data-parallel plumbing for ``torchrun``: process-group setup and teardown, environment checks,
gradient averaging, small collectives, and batch norm whose statistics span every process.

``torchrun`` (PyTorch's own launcher) starts one process per device and sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``; :func:`process_info` reads them.
The :class:`~infogan.runtime.engine.Engine` calls the functions here; nothing else in the package touches
``torch.distributed``.

Why gradients are averaged by hand rather than by wrapping G and D in ``DistributedDataParallel``: one
InfoGAN iteration runs D three times (real batch, detached fakes, then fakes with D frozen in the G phase)
and G once, and steps two optimisers on disjoint parameter sets. DDP's reducer expects one forward and one
backward per wrapped module per iteration with every trainable parameter receiving a gradient; a frozen D
in the G phase breaks that contract (or needs ``find_unused_parameters`` plus ``static_graph`` tricks). One
flat ``all_reduce`` of each optimiser's gradients just before its ``step()`` is correct by construction,
costs two collectives per iteration, and only gives up DDP's overlap of communication with the backward
pass (small for these few-million-parameter networks).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterable

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from infogan.errors import ConfigError
from infogan.runtime.device import resolve_device

BACKENDS = ("auto", "gloo", "nccl")
_TORCHRUN_HINT = "launch with 'torchrun --nproc_per_node N -m infogan train ...'"


@dataclass(frozen=True)
class ProcessInfo:
    """Where this process sits in a torchrun job.

    Attributes:
        rank: global process index (0 writes the run folder).
        world_size: number of processes over all machines.
        local_rank: index on this machine (picks the GPU).
        local_world_size: processes on this machine.
    """

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int


def process_info() -> ProcessInfo | None:
    """The torchrun variables of this process, or None when it was not started by torchrun."""
    if "WORLD_SIZE" not in os.environ:
        return None
    values = {}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        raw = os.environ.get(name, "0" if name in ("RANK", "LOCAL_RANK") else os.environ["WORLD_SIZE"])
        try:
            values[name] = int(raw)
        except ValueError:
            raise ConfigError(f"environment variable {name}={raw!r} is not an integer; {_TORCHRUN_HINT}") from None
    info = ProcessInfo(values["RANK"], values["WORLD_SIZE"], values["LOCAL_RANK"], values["LOCAL_WORLD_SIZE"])
    if info.world_size < 1 or not 0 <= info.rank < info.world_size or not 0 <= info.local_rank < max(
            1, info.local_world_size):
        raise ConfigError(f"inconsistent torchrun environment (RANK={info.rank}, WORLD_SIZE={info.world_size}, "
                          f"LOCAL_RANK={info.local_rank}); {_TORCHRUN_HINT}")
    return info


def is_main_process() -> bool:
    """True on rank 0, and in a process not started by torchrun (for code that runs after training)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return os.environ.get("RANK", "0") == "0"


def process_device(name: str, info: ProcessInfo) -> torch.device:
    """The device of this process: under torchrun ``auto``/``cuda`` mean ``cuda:LOCAL_RANK``.

    Args:
        name: the configured device ("auto", "cpu", "cuda", "cuda:N").
        info: this process's place in the job.
    Returns:
        The device, checked against the GPUs this machine has.
    """
    device = resolve_device(name)
    if device.type != "cuda":
        return device
    count = torch.cuda.device_count()
    if device.index is not None:
        if info.local_world_size > 1:
            raise ConfigError(f"--device {name} puts all {info.local_world_size} processes of this machine on one "
                              "GPU; use --device cuda (or auto) so that each process takes cuda:LOCAL_RANK")
        return device
    if info.local_rank >= count:
        raise ConfigError(f"torchrun started {info.local_world_size} processes on this machine but only {count} "
                          f"GPU(s) are visible; use --nproc_per_node {count} (or --device cpu)")
    return torch.device("cuda", info.local_rank)


def resolve_backend(requested: str, device: torch.device) -> str:
    """``auto`` -> NCCL for CUDA devices, gloo otherwise; an explicit choice is checked against the device."""
    if requested not in BACKENDS:
        raise ConfigError(f"unknown --dist-backend {requested!r}; use one of {', '.join(BACKENDS)}")
    backend = ("nccl" if device.type == "cuda" else "gloo") if requested == "auto" else requested
    if backend == "nccl":
        if not torch.cuda.is_available():
            raise ConfigError("--dist-backend nccl needs CUDA GPUs but none is visible; use --dist-backend gloo "
                              "(or auto) to train on CPUs")
        if device.type != "cuda":
            raise ConfigError(f"--dist-backend nccl cannot reduce tensors on {device}; use --device cuda, or "
                              "--dist-backend gloo for CPU training")
        if not dist.is_nccl_available():
            raise ConfigError("this PyTorch build has no NCCL; install a CUDA build of torch or use "
                              "--dist-backend gloo")
    if backend == "gloo" and not dist.is_gloo_available():
        raise ConfigError("this PyTorch build has no gloo backend; use --dist-backend nccl on GPUs")
    return backend


def check_batch(batch_size: int, world_size: int) -> int:
    """The per-process batch: ``--batch-size`` is global and must split evenly over the processes."""
    if batch_size % world_size:
        divisors = [n for n in range(1, world_size * 2 + 1) if batch_size % n == 0]
        raise ConfigError(f"--batch-size {batch_size} is the global batch and must divide evenly over "
                          f"{world_size} processes; use a multiple of {world_size} (e.g. "
                          f"{world_size * max(1, round(batch_size / world_size))}) or run "
                          f"{', '.join(map(str, divisors))} processes (a resumed run keeps its batch size)")
    return batch_size // world_size


def init_process_group(info: ProcessInfo, backend: str, device: torch.device) -> bool:
    """Join the torchrun job (``env://`` rendezvous). Returns True when this call created the group."""
    if dist.is_initialized():
        if dist.get_world_size() != info.world_size:
            raise ConfigError(f"a process group of {dist.get_world_size()} processes already exists but "
                              f"WORLD_SIZE={info.world_size}")
        return False
    missing = [v for v in ("MASTER_ADDR", "MASTER_PORT") if v not in os.environ]
    if missing:
        raise ConfigError(f"WORLD_SIZE is set but {', '.join(missing)} is not; {_TORCHRUN_HINT}")
    kwargs: dict[str, Any] = {}
    if device.type == "cuda":
        torch.cuda.set_device(device)  # object collectives and NCCL use the current device
        kwargs["device_id"] = device  # eager NCCL init bound to this GPU
    try:
        dist.init_process_group(backend, rank=info.rank, world_size=info.world_size, **kwargs)
    except (RuntimeError, ValueError) as exc:
        raise ConfigError(f"could not join the {backend} process group as rank {info.rank} of "
                          f"{info.world_size} ({exc}); check --rdzv-endpoint / MASTER_ADDR:MASTER_PORT and "
                          "that every machine runs the same torchrun command") from None
    return True


def shutdown() -> None:
    """Leave the process group (safe to call when none exists)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


# ----- collectives ---------------------------------------------------------------------------------------
def average_gradients(params: Iterable[nn.Parameter]) -> None:
    """Replace each gradient by its mean over processes: one flat ``all_reduce`` per (device, dtype).

    Every process runs the same code, so the same parameters have (or lack) gradients everywhere; a
    parameter without a gradient is left alone, as the optimiser will skip it on every process.
    """
    world = dist.get_world_size()
    buckets: dict[tuple, list[torch.Tensor]] = {}
    for p in params:
        if p.grad is not None:
            buckets.setdefault((p.grad.device, p.grad.dtype), []).append(p.grad)
    for grads in buckets.values():
        flat = torch.cat([g.reshape(-1) for g in grads])  # one message instead of one per tensor
        dist.all_reduce(flat)
        flat.div_(world)
        for g, chunk in zip(grads, flat.split([g.numel() for g in grads])):
            g.copy_(chunk.view_as(g))


def all_reduce_mean(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The mean over processes of each tensor of a dict (one flat ``all_reduce``)."""
    if not tensors:
        return tensors
    keys = list(tensors)
    flat = torch.cat([tensors[k].float().reshape(-1) for k in keys])
    dist.all_reduce(flat)
    flat.div_(dist.get_world_size())
    parts = flat.split([tensors[k].numel() for k in keys])
    return {k: part.view(tensors[k].shape) for k, part in zip(keys, parts)}


def any_true(flag: bool, device: torch.device) -> bool:
    """True on every process when ``flag`` is True on any of them."""
    t = torch.tensor([int(flag)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s (picklable) object on every process."""
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def gather_objects(obj: Any) -> list[Any]:
    """Every process's object, in rank order, on every process."""
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_module(module: nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s parameters and buffers into every process's module (same start everywhere)."""
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor.data, src=src)


# ----- batch norm over all processes -----------------------------------------------------------------------
class _GatherStats(torch.autograd.Function):
    """``all_gather`` of per-process statistics whose backward sums the gradient over processes.

    Every process's statistics feed every process's normalisation, so the gradient reaching this
    process's statistics is the sum of what each process's loss sends back to them.
    """

    @staticmethod
    def forward(ctx, stats: torch.Tensor) -> torch.Tensor:  # (K,) -> (W, K)
        out = [torch.empty_like(stats) for _ in range(dist.get_world_size())]
        dist.all_gather(out, stats.contiguous())
        return torch.stack(out)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # (W, K) -> (K,)
        grad = grad.contiguous()
        dist.all_reduce(grad)
        return grad[dist.get_rank()]


class CrossProcessBatchNorm(_BatchNorm):
    """Batch norm whose training statistics cover the whole global batch, on any device and backend.

    ``torch.nn.SyncBatchNorm`` does the same with fused CUDA kernels but refuses CPU tensors (its
    ``batch_norm_stats`` kernel has no CPU implementation in torch 2.13); this version is written in
    plain autograd ops: each process sends (mean, variance, count) per channel, every process combines
    them with the parallel-variance formula (Chan et al. 1979), and gradients flow back through the
    gather. Outside training, or on one process, it is ``nn.BatchNorm*``.
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(input)
        self._check_input_dim(input)
        C = input.shape[1]
        dims = [0, *range(2, input.dim())]
        x = input.float() if input.dtype in (torch.float16, torch.bfloat16) else input  # fp32 stats under autocast
        count = x.numel() // C
        local = torch.cat([x.mean(dims), x.var(dims, correction=0), x.new_full((1,), float(count))])
        means, variances, counts = _GatherStats.apply(local).split([C, C, 1], dim=1)  # (W, C), (W, C), (W, 1)
        total = counts.sum()
        weights = counts / total  # (W, 1)
        mean = (weights * means).sum(0)  # (C,)
        var = (weights * (variances + (means - mean) ** 2)).sum(0)  # (C,) biased variance of the global batch
        if self.track_running_stats:
            self._update_running_stats(mean.detach(), var.detach(), total.detach())
        shape = (1, C) + (1,) * (input.dim() - 2)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(input.dtype)

    @torch.no_grad()
    def _update_running_stats(self, mean: torch.Tensor, var: torch.Tensor, total: torch.Tensor) -> None:
        # the same rule as nn.BatchNorm: momentum, or a cumulative average when momentum is None
        self.num_batches_tracked.add_(1)
        factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        unbiased = var * (total / (total - 1.0).clamp(min=1.0))  # tensor maths: no host sync on GPUs
        self.running_mean.mul_(1 - factor).add_(mean, alpha=factor)
        self.running_var.mul_(1 - factor).add_(unbiased, alpha=factor)


def convert_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Make every batch norm of ``module`` synchronise its statistics over the processes.

    CUDA modules get ``torch.nn.SyncBatchNorm`` (fused kernels); others get :class:`CrossProcessBatchNorm`.
    Parameters are shared with the old layers and state-dict keys are unchanged, so snapshots still load
    into plain models.
    """
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return _convert(module)


def _convert(module: nn.Module) -> nn.Module:
    out = module
    if isinstance(module, _BatchNorm) and not isinstance(module, (CrossProcessBatchNorm, nn.SyncBatchNorm)):
        out = CrossProcessBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                                    module.track_running_stats)
        if module.affine:
            out.weight, out.bias = module.weight, module.bias
        if module.track_running_stats:
            out.running_mean, out.running_var = module.running_mean, module.running_var
            out.num_batches_tracked = module.num_batches_tracked
        out.train(module.training)
    for name, child in module.named_children():
        out.add_module(name, _convert(child))
    return out
