"""Execution choices kept out of the loop: device, precision, compile, and (under torchrun) DDP.

The trainer asks the engine to place data, wrap networks, open an autocast context and reduce statistics;
on a single process every distributed call is a no-op.
"""

from __future__ import annotations

import contextlib
import functools
import os
import warnings
from dataclasses import dataclass

import torch
from torch import nn

from infogan.config import TrainConfig
from infogan.errors import ConfigError


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

    @classmethod
    def from_config(cls, tc: TrainConfig) -> "Engine":
        device = resolve_device(tc.device)
        if tc.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        return cls(device=device, amp_dtype=resolve_precision(tc.precision, device), compile=tc.compile,
                   sync_batchnorm=tc.sync_batchnorm)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def check_every_step(self) -> bool:
        """Checking the loss each step costs a host sync: free on CPU, avoided on CUDA (checked on ticks)."""
        return self.device.type == "cpu"

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
        """Return the callables the loop uses for G and D (compiled when asked)."""
        G, D = model.G, model.D
        if self.compile:
            try:
                G, D = torch.compile(G), torch.compile(D)
            except Exception as exc:  # noqa: BLE001 - any backend failure falls back to eager
                warnings.warn(f"torch.compile unavailable ({exc}); training eagerly", stacklevel=2)
        return G, D

    def all_reduce_mean(self, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Average statistics over processes (identity on one process)."""
        return tensors

    def barrier(self) -> None:
        """Wait for every process (no-op on one process)."""

    def create_run_dir(self, make) -> "os.PathLike":
        """Rank 0 creates the run folder; under DDP the others receive its path (no-op here)."""
        return make()
