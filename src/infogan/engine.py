"""Execution choices kept out of the loop: device, precision, compile, and (under torchrun) DDP.

The trainer asks the engine to place data, wrap networks, open an autocast context and reduce statistics;
on a single process every distributed call is a no-op.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import warnings
from dataclasses import dataclass

import torch
from torch import nn

from infogan import distributed as dist_utils
from infogan.config import TrainConfig
from infogan.errors import ConfigError, InfoGANError, TrainingError


def resolve_device(name: str) -> torch.device:
    """"auto" -> cuda if available else cpu; otherwise the named device, checked."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available; use --device cpu")
    return device


@functools.lru_cache(maxsize=None)
def cpu_has_bf16() -> bool:
    """True when the CPU has native bf16 matrix instructions (AVX512-BF16 or AMX)."""
    try:
        flags = open("/proc/cpuinfo", encoding="ascii", errors="ignore").read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype (None = fp32) for a precision setting on a device."""
    if precision == "fp32":
        return None
    supported = (device.type == "cuda" and torch.cuda.is_bf16_supported()) or (
        device.type == "cpu" and cpu_has_bf16())
    if precision == "bf16" and not supported:
        warnings.warn(f"bf16 is not supported natively on {device}; training in fp32", stacklevel=2)
        return None
    return torch.bfloat16 if supported else None


@dataclass
class Engine:
    """Device, precision and process-group facts for one training process."""

    device: torch.device
    amp_dtype: torch.dtype | None = None
    compile: bool = False
    rank: int = 0
    world_size: int = 1
    distributed: bool = False
    sync_batchnorm: bool = True
    backend: str | None = None  # "gloo" or "nccl" under torchrun with more than one process
    owns_process_group: bool = False  # this engine joined the group, so close() leaves it

    @classmethod
    def from_config(cls, tc: TrainConfig, *, dist_backend: str = "auto") -> "Engine":
        """Build the engine of this process; under torchrun (WORLD_SIZE > 1) join the process group.

        Args:
            tc: the train config (device, precision, compile, sync_batchnorm, global batch size).
            dist_backend: "auto" (NCCL on GPUs, gloo on CPUs), "gloo" or "nccl"; only meaningful under torchrun.
        Returns:
            The engine; call :meth:`close` when done to leave the process group.
        """
        info = dist_utils.process_info()
        if info is None and dist_backend != "auto":
            raise ConfigError(f"--dist-backend {dist_backend} only applies to processes started by torchrun "
                              "(WORLD_SIZE is unset); launch with 'torchrun --nproc_per_node N -m infogan train "
                              "...' or drop the flag")
        device = resolve_device(tc.device) if info is None else dist_utils.process_device(tc.device, info)
        if tc.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        engine = cls(device=device, amp_dtype=resolve_precision(tc.precision, device), compile=tc.compile,
                     sync_batchnorm=tc.sync_batchnorm)
        if info is None:
            return engine
        backend = dist_utils.resolve_backend(dist_backend, device)  # checked even for one process
        if info.world_size == 1:
            return engine
        dist_utils.check_batch(tc.batch_size, info.world_size)
        owns = dist_utils.init_process_group(info, backend, device)
        return dataclasses.replace(engine, rank=info.rank, world_size=info.world_size, distributed=True,
                                   backend=backend, owns_process_group=owns)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def check_every_step(self) -> bool:
        """Checking the loss each step costs a host sync: free on CPU, avoided on CUDA (checked on ticks).

        Under DDP only the tick check (on all-reduced means) runs: a per-process check could stop one
        process while the others wait for it in a collective.
        """
        return self.device.type == "cpu" and not self.distributed

    def local_batch(self, batch_size: int) -> int:
        """This process's share of the global batch ``batch_size`` (validated to divide evenly)."""
        return batch_size // self.world_size

    def autocast(self):
        """bf16 autocast where supported: matmuls/convs run in bf16, losses stay fp32."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def to_device_data(self, images: torch.Tensor) -> torch.Tensor:
        """The whole split as one uint8 tensor on the device: batches are one gather, no per-sample work."""
        return images.to(self.device).contiguous()

    def adam_kwargs(self) -> dict:
        # fused Adam on CUDA (one kernel for all parameters); foreach elsewhere (a few vectorised ops)
        return {"fused": True} if self.device.type == "cuda" else {"foreach": True}

    def wrap(self, model) -> tuple[nn.Module, nn.Module]:
        """Return the callables the loop uses for G and D (compiled when asked).

        Under DDP (before the optimisers are built): batch norm layers synchronise their statistics over
        the processes unless ``sync_batchnorm`` is off, and every process starts from rank 0's weights.
        """
        if self.distributed:
            if self.sync_batchnorm:
                dist_utils.convert_batchnorm(model, self.device)  # in place: children swapped, params shared
            dist_utils.broadcast_module(model)
        G, D = model.G, model.D
        if self.compile:
            try:
                G, D = torch.compile(G), torch.compile(D)
            except Exception as exc:  # noqa: BLE001 - any backend failure falls back to eager
                warnings.warn(f"torch.compile unavailable ({exc}); training eagerly", stacklevel=2)
        return G, D

    def sync_gradients(self, *optimizers: torch.optim.Optimizer) -> None:
        """Under DDP, average each optimiser's gradients over the processes just before its ``step()``.

        A step pre-hook (one flat all_reduce per step) instead of the DDP wrapper: see
        :mod:`infogan.distributed` for why. Every optimiser the loop steps must be registered here.
        """
        if not self.distributed:
            return
        for opt in optimizers:
            params = [p for group in opt.param_groups for p in group["params"]]
            opt.register_step_pre_hook(lambda *_, params=params: dist_utils.average_gradients(params))

    def all_reduce_mean(self, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Average statistics over processes (identity on one process)."""
        return dist_utils.all_reduce_mean(tensors) if self.distributed else tensors

    def any_true(self, flag: bool) -> bool:
        """True on every process when ``flag`` is True on any process (the flag itself on one process)."""
        return dist_utils.any_true(flag, self.device) if self.distributed else flag

    def gather_object(self, obj):
        """Every process's ``obj`` in rank order (``[obj]`` on one process)."""
        return dist_utils.gather_objects(obj) if self.distributed else [obj]

    def barrier(self) -> None:
        """Wait for every process (no-op on one process)."""
        if self.distributed:
            torch.distributed.barrier()

    def create_run_dir(self, make) -> "os.PathLike":
        """Rank 0 creates the run folder; under DDP the others receive its path (or rank 0's error)."""
        return self.main_first(make, share=True)

    def main_first(self, fn, *, share: bool = False):
        """Run ``fn`` on rank 0, then on the other ranks (or hand them rank 0's result when ``share``).

        Used for work that must happen once (making the run folder) or that fills a cache the others
        then read (a first dataset download). A failure on rank 0 is raised on every process instead of
        leaving the others waiting.
        """
        if not self.distributed:
            return fn()
        result, error = None, None
        if self.is_main:
            try:
                result = fn()
            except InfoGANError as exc:
                error = exc
            except Exception as exc:  # a bug on rank 0: tell the others, re-raise it here unchanged
                dist_utils.broadcast_object((None, TrainingError(f"rank 0 failed: {exc!r}")))
                raise
        shared, error = dist_utils.broadcast_object((result if share else None, error))
        if error is not None:
            raise error
        if self.is_main:
            return result
        return shared if share else fn()

    def close(self) -> None:
        """Leave the process group when this engine joined it (no-op otherwise)."""
        if self.owns_process_group:
            dist_utils.shutdown()
            self.owns_process_group = False
