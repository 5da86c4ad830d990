"""The speed switches of the training path, each with the reason it is there: channels_last, fused Adam,
``torch.compile`` with an eager fallback, the allocator setting. Their measured gains are in
docs/performance.md (``benchmarks/throughput.py`` ablations)."""

from __future__ import annotations

import ctypes
import functools
import shutil
import sys
import warnings

import torch
from torch import nn


def prefers_channels_last(device: torch.device) -> bool:
    """Whether conv layers run faster with NHWC activations and weights on ``device``.

    CPU (oneDNN): fewer layout reorders around each conv, together with :class:`LayoutAtFlatten` (gain in
    docs/performance.md). CUDA: tensor-core convs want NHWC.
    """
    return device.type in ("cpu", "cuda")


def fused_adam_supported(device: torch.device) -> bool:
    """Whether this PyTorch has a fused Adam kernel for ``device`` (CUDA; CPU since PyTorch 2.4)."""
    try:
        from torch.utils._foreach_utils import _get_fused_kernels_supported_devices
    except ImportError:
        return device.type == "cuda"
    return device.type in _get_fused_kernels_supported_devices()


def compile_unavailable(device: torch.device) -> str | None:
    """Why ``torch.compile`` cannot work here, or None when its prerequisites are present.

    Checks what fails most often: a Python that TorchDynamo does not support, no C++ compiler for
    Inductor's CPU kernels, no Triton for its GPU kernels.
    """
    try:
        import torch._dynamo

        if not torch._dynamo.is_dynamo_supported():
            return f"TorchDynamo does not support Python {sys.version.split()[0]} in PyTorch {torch.__version__}"
    except Exception as exc:  # noqa: BLE001 - a broken install is a reason too
        return f"torch._dynamo cannot be imported: {exc}"
    if device.type == "cpu":
        from torch._inductor import config as inductor_config

        cxx = inductor_config.cpp.cxx[-1] or "g++"
        if shutil.which(cxx) is None:
            return f"no C++ compiler {cxx!r} on PATH for Inductor's CPU kernels (install g++ or set CXX)"
    elif device.type == "cuda":
        from torch.utils._triton import has_triton

        if not has_triton():
            return "Triton is not installed (pip install triton)"
    return None


class CompiledModule:
    """``torch.compile(module)`` that falls back to the eager module when compiling fails at a call.

    Compilation happens lazily at the first call (and again for new input kinds), so a missing toolchain
    or an unsupported operation surfaces there; the failed call and every later one then run eagerly,
    after one warning. Compilation errors occur before any computation, so nothing runs twice.

    Args:
        module: the eager module (its parameters are the ones being trained).
        mode: ``torch.compile`` mode (None: default; "reduce-overhead": CUDA graphs).
    """

    def __init__(self, module: nn.Module, *, mode: str | None = None) -> None:
        self.module = module
        self.compiled = torch.compile(module, mode=mode)

    def __call__(self, *args, **kwargs):
        if self.compiled is not None:
            try:
                return self.compiled(*args, **kwargs)
            except Exception as exc:  # narrowed below to compiler failures
                if not _is_compile_error(exc):
                    raise
                warnings.warn(f"torch.compile failed for {type(self.module).__name__} "
                              f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                              "training eagerly", stacklevel=2)
                self.compiled = None
        return self.module(*args, **kwargs)


def _is_compile_error(exc: BaseException) -> bool:
    try:
        from torch._dynamo.exc import TorchDynamoException
    except ImportError:
        return False
    return isinstance(exc, TorchDynamoException)


class LayoutAtFlatten(torch.autograd.Function):
    """NCHW copy of a channels_last activation in the forward, gradient returned channels_last.

    Flattening a channels_last (B, C, H, W) tensor copies it to NCHW order anyway; without this, the
    gradient arriving from the flatten is NCHW while the activations saved before it are channels_last,
    and the elementwise backward kernels on mixed layouts take a slow strided path (leaky ReLU backward
    on (128, 128, 7, 7) bf16 is about 30 times slower than on matching layouts; docs/performance.md).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.channels_last = x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(
            memory_format=torch.channels_last)
        return x.contiguous()  # (B, C, H, W), NCHW

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad.contiguous(memory_format=torch.channels_last) if ctx.channels_last else grad


def flatten_keeping_grad_layout(module: nn.Module, args: tuple) -> tuple:
    return (LayoutAtFlatten.apply(args[0]), *args[1:])


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters (malloc.h)


@functools.cache
def keep_freed_memory() -> bool:
    """glibc: serve large tensors from the heap instead of fresh ``mmap`` pages, for the whole process.

    PyTorch's CPU allocator is ``malloc``; glibc maps each large block afresh and unmaps it when freed,
    so every step's big temporaries (autocast weight copies, gradients) page-fault in again: about 12,000
    faults per MNIST step at batch 128. Raising the mmap threshold to its 64-bit maximum (32 MiB) and the
    trim threshold to 1 GiB keeps freed blocks for reuse (no faults per step; gain in docs/performance.md).
    Memory freed by the process is then returned to the system only at exit.

    Returns:
        True when glibc accepted both settings; False elsewhere (no glibc: nothing changes).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 1 << 30))
    except (OSError, AttributeError):  # musl or another libc without mallopt
        return False


def match_state_layout(optimizer: torch.optim.Optimizer) -> None:
    for group in optimizer.param_groups:
        for p in group["params"]:
            state = optimizer.state.get(p, {})
            for key, value in state.items():
                if torch.is_tensor(value) and value.shape == p.shape and value.stride() != p.stride():
                    state[key] = torch.empty_like(p, dtype=value.dtype).copy_(value)  # p's strides, same values
