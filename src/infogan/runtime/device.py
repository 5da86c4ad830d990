"""Which device and which precision: ``--device auto`` and ``--precision auto`` resolved for this machine."""

from __future__ import annotations

import functools
import warnings

import torch

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
