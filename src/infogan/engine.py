"""Execution choices kept out of the loop: device, precision, compile, and (under torchrun) DDP.

The trainer asks the engine to place data, wrap networks, open an autocast context and reduce statistics;
on a single process every distributed call is a no-op.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import functools
import os
import shutil
import sys
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


def prefers_channels_last(device: torch.device) -> bool:
    """Whether conv layers run faster with NHWC activations and weights on ``device``.

    CPU (oneDNN): fewer layout reorders around each conv (MNIST, batch 128, bf16, one core: +7.5% img/s
    together with :class:`LayoutAtFlatten`, 2026-12-02; +6.2% in fp32 on AVX2; docs/performance.md). CUDA: tensor-core convs want NHWC.
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
    on (128, 128, 7, 7) bf16: 5.4 ms instead of 0.17 ms; MNIST batch 128, one core: +4.6% img/s).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.channels_last = x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(
            memory_format=torch.channels_last)
        return x.contiguous()  # (B, C, H, W), NCHW

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad.contiguous(memory_format=torch.channels_last) if ctx.channels_last else grad


def _flatten_keeping_grad_layout(module: nn.Module, args: tuple) -> tuple:
    return (LayoutAtFlatten.apply(args[0]), *args[1:])


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters (malloc.h)


@functools.cache
def keep_freed_memory() -> bool:
    """glibc: serve large tensors from the heap instead of fresh ``mmap`` pages, for the whole process.

    PyTorch's CPU allocator is ``malloc``; glibc maps each large block afresh and unmaps it when freed,
    so every step's big temporaries (autocast weight copies, gradients) page-fault in again: about 12,000
    faults per MNIST step at batch 128. Raising the mmap threshold to its 64-bit maximum (32 MiB) and the
    trim threshold to 1 GiB keeps freed blocks for reuse (0 faults per step; +10.5% img/s on one core,
    batch 128, bf16, 2026-12-02). Memory freed by the process is then returned to the system only at exit.

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


def _match_state_layout(optimizer: torch.optim.Optimizer) -> None:
    for group in optimizer.param_groups:
        for p in group["params"]:
            state = optimizer.state.get(p, {})
            for key, value in state.items():
                if torch.is_tensor(value) and value.shape == p.shape and value.stride() != p.stride():
                    state[key] = torch.empty_like(p, dtype=value.dtype).copy_(value)  # p's strides, same values


@dataclass
class Engine:
    """Device, precision and process-group facts for one training process."""

    device: torch.device
    amp_dtype: torch.dtype | None = None
    compile: bool = False
    channels_last: bool = False  # NHWC activations and conv weights (see prefers_channels_last)
    compile_mode: str | None = None  # torch.compile mode; "reduce-overhead" = CUDA graphs (GPU, opt-in)
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
                     channels_last=prefers_channels_last(device), sync_batchnorm=tc.sync_batchnorm)
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
        """bf16 autocast where supported: matmuls/convs run in bf16, losses stay fp32.

        AVX512-BF16 CPU, MNIST batch 128, one core: 350 -> 757 img/s against fp32 (2026-12-02,
        docs/performance.md).
        """
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    @property
    def memory_format(self) -> torch.memory_format:
        """The layout of image batches and conv weights: channels_last (NHWC) or contiguous (NCHW)."""
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def to_device_data(self, images: torch.Tensor) -> torch.Tensor:
        """The whole split as one uint8 tensor on the device: batches are one gather, no per-sample work."""
        return images.to(self.device).contiguous()

    def adam_kwargs(self) -> dict:
        """Keyword arguments of the loop's Adam optimisers: fused where PyTorch has the kernel, else foreach."""
        # fused: one pass over each parameter's values, no temporaries (CPU: +9.2% img/s, batch 128, bf16);
        # foreach where fused is missing: a few vectorised ops per step instead of a Python loop per tensor
        return {"fused": True} if fused_adam_supported(self.device) else {"foreach": True}

    def keep_state_layout(self, *optimizers: torch.optim.Optimizer) -> None:
        """After ``load_state_dict``, give every optimiser state tensor its parameter's memory layout.

        A resume state holds NCHW tensors; fused Adam walks parameter, gradient and moments as flat memory,
        so a channels_last parameter with NCHW moments would be updated element-for-wrong-element.
        """
        for opt in optimizers:
            opt.register_load_state_dict_post_hook(_match_state_layout)

    def step_begin(self) -> None:
        """Mark the start of a training step for CUDA graphs (``compile_mode="reduce-overhead"``)."""
        if self.compile and self.compile_mode == "reduce-overhead" and self.device.type == "cuda":
            torch.compiler.cudagraph_mark_step_begin()  # outputs of the last step may now be overwritten

    def wrap(self, model) -> tuple[nn.Module, nn.Module]:
        """Return the callables the loop uses for G and D (compiled when asked).

        Under DDP (before the optimisers are built): batch norm layers synchronise their statistics over
        the processes unless ``sync_batchnorm`` is off, and every process starts from rank 0's weights.
        """
        if self.distributed:
            if self.sync_batchnorm:
                dist_utils.convert_batchnorm(model, self.device)  # in place: children swapped, params shared
            dist_utils.broadcast_module(model)
        if self.channels_last:
            model.to(memory_format=torch.channels_last)  # in place: the parameters stay the same objects
            for module in model.modules():
                if isinstance(module, nn.Flatten):  # the 4D -> 2D boundary: see LayoutAtFlatten
                    module.register_forward_pre_hook(_flatten_keeping_grad_layout)
        if self.device.type == "cpu":
            keep_freed_memory()  # no page faults on each step's big temporaries: +10.5% img/s (bf16)
        elif self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes: pick the fastest conv algorithm once
        G, D = model.G, model.D
        if self.compile:
            reason = compile_unavailable(self.device)
            if reason is not None:
                warnings.warn(f"torch.compile unavailable ({reason}); training eagerly", stacklevel=2)
            else:  # opt-in: -26% img/s on an AVX512-BF16 CPU; "reduce-overhead" on CUDA replays steps as CUDA graphs
                G, D = CompiledModule(G, mode=self.compile_mode), CompiledModule(D, mode=self.compile_mode)
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
