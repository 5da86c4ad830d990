"""Execution choices kept out of the loop: device, precision, compile, and (under torchrun) DDP.

The trainer asks the engine to place data, wrap networks, open an autocast context and reduce statistics;
on a single process every distributed call is a no-op. The switches themselves live in
:mod:`~infogan.runtime.device`, :mod:`~infogan.runtime.speed` and :mod:`~infogan.runtime.distributed`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import warnings
from dataclasses import dataclass

import torch
from torch import nn

from infogan.config import TrainConfig
from infogan.errors import ConfigError, InfoGANError, TrainingError
from infogan.runtime import distributed as dist_utils
from infogan.runtime import speed
from infogan.runtime.device import resolve_device, resolve_precision


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
                     compile_mode=tc.compile_mode or None,
                     channels_last=speed.prefers_channels_last(device), sync_batchnorm=tc.sync_batchnorm)
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

        On CPUs with AVX512-BF16 this roughly doubles the throughput (docs/performance.md).
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
        # fused: one pass over each parameter's values, no temporaries;
        # foreach where fused is missing: a few vectorised ops per step instead of a Python loop per tensor
        return {"fused": True} if speed.fused_adam_supported(self.device) else {"foreach": True}

    def keep_state_layout(self, *optimizers: torch.optim.Optimizer) -> None:
        """After ``load_state_dict``, give every optimiser state tensor its parameter's memory layout.

        A resume state holds NCHW tensors; fused Adam walks parameter, gradient and moments as flat memory,
        so a channels_last parameter with NCHW moments would be updated element-for-wrong-element.
        """
        for opt in optimizers:
            opt.register_load_state_dict_post_hook(speed.match_state_layout)

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
                    module.register_forward_pre_hook(speed.flatten_keeping_grad_layout)
        if self.device.type == "cpu":
            speed.keep_freed_memory()  # no page faults on each step's big temporaries
        elif self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes: pick the fastest conv algorithm once
        G, D = model.G, model.D
        if self.compile:
            reason = speed.compile_unavailable(self.device)
            if reason is not None:
                warnings.warn(f"torch.compile unavailable ({reason}); training eagerly", stacklevel=2)
            else:  # opt-in: slower than eager on the CPUs measured (docs/performance.md); "reduce-overhead" on CUDA
                # replays steps as CUDA graphs
                G, D = speed.CompiledModule(G, mode=self.compile_mode), speed.CompiledModule(D, mode=self.compile_mode)
        return G, D

    def sync_gradients(self, *optimizers: torch.optim.Optimizer) -> None:
        """Under DDP, average each optimiser's gradients over the processes just before its ``step()``.

        A step pre-hook (one flat all_reduce per step) instead of the DDP wrapper: see
        :mod:`infogan.runtime.distributed` for why. Every optimiser the loop steps must be registered here.
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
