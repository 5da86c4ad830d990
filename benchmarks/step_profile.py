"""Where one training step's time goes: seconds and FLOPs per ATen operator, and each one's GFLOP/s.

    python benchmarks/step_profile.py                           # MNIST, batch 128, the default path
    python benchmarks/step_profile.py --threads 1 --precision fp32 --steps 10

Every ATen call of ``--steps`` steps of ``Trainer.train_step`` (after 5 warm-up steps) is timed on its own
by a ``TorchDispatchMode`` (CPU ops are synchronous, so a call's wall time is its kernel's; on CUDA the
mode synchronises after each call, which makes the absolute times larger than a real step's). FLOPs come
from ``torch.utils.flop_counter``'s formulas (matmuls and convolutions, forward and backward). The rows
are grouped by operator and input shape; a matmul peak (2048^3, the run's precision) is measured in the
same process, so that each heavy operator's rate is also a fraction of it.

What it answers: how far a path is from the machine's compute limit, and whether the gap is in the heavy
kernels themselves (their GFLOP/s below the peak) or in the rest (casts, batch norm, optimiser, ...).
The per-call timing adds Python overhead to every call: ``step_s_plain`` (the same steps without the mode)
is recorded beside ``step_s_profiled`` to show how much.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    machine_info,
    matmul_peak,
    sync,
    synthetic_images,
    synthetic_trainer,
    table,
    write_result,
)

HEAVY = ("mm", "addmm", "bmm", "convolution", "convolution_backward")


class OpTimer(TorchDispatchMode):
    """Times every ATen call and counts its FLOPs, keyed by (operator, shape of the first input)."""

    def __init__(self, device: torch.device):
        super().__init__()
        self.device = device
        self.seconds: dict[tuple, float] = defaultdict(float)
        self.flops: dict[tuple, float] = defaultdict(float)
        self.calls: dict[tuple, int] = defaultdict(int)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        t = time.perf_counter()
        out = func(*args, **kwargs)
        sync(self.device)
        dt = time.perf_counter() - t
        first = args[0] if args and torch.is_tensor(args[0]) else None
        key = (func._overloadpacket.__name__, tuple(first.shape) if first is not None else (),
               str(first.dtype).removeprefix("torch.") if first is not None else "")
        self.seconds[key] += dt
        self.calls[key] += 1
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.flops[key] += formula(*args, **kwargs, out_val=out)
        return out


def build_trainer(preset: str, batch: int, device_name: str, precision: str):
    """The default training path (``Trainer`` with ``Engine.from_config``) on 4,096 random uint8 images."""
    import infogan
    from infogan.runtime.engine import Engine

    config = infogan.get_preset(preset).replace(train={"batch_size": batch, "device": device_name,
                                                       "precision": precision})
    engine = Engine.from_config(config.train)
    return synthetic_trainer(config, synthetic_images(config), engine), engine


def _rate(seconds: float, flops: float, peak_gflops: float) -> dict:
    """GFLOP/s and the fraction of the peak (None for operators without FLOPs)."""
    rate = flops / seconds / 1e9 if flops else None
    return {"gflops": round(rate, 1) if rate else None, "of_peak": round(rate / peak_gflops, 3) if rate else None}


def _timed_steps(trainer, steps: int, device: torch.device) -> float:
    """Seconds per ``train_step``, averaged over ``steps``."""
    sync(device)
    t = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    sync(device)
    return (time.perf_counter() - t) / steps


def profile(args) -> dict:
    """Warm up, time ``args.steps`` plain steps, then the same number under :class:`OpTimer`; the result dict."""
    if args.threads:
        torch.set_num_threads(args.threads)
    trainer, engine = build_trainer(args.preset, args.batch_size, args.device, args.precision)
    device = engine.device
    dtype = engine.amp_dtype or torch.float32
    _timed_steps(trainer, 5, device)  # warm-up: kernel selection, allocator
    plain = _timed_steps(trainer, args.steps, device)
    timer = OpTimer(device)
    with timer:
        profiled = _timed_steps(trainer, args.steps, device)
    peak = matmul_peak(dtype, device)["gflops_wall"]

    n = args.steps
    total_op_s = sum(timer.seconds.values()) / n
    rows = []
    for key, secs in sorted(timer.seconds.items(), key=lambda kv: -kv[1]):
        op, shape, dt = key
        s, f = secs / n, timer.flops.get(key, 0.0) / n
        rows.append({"op": op, "input_shape": list(shape), "dtype": dt, "calls_per_step": timer.calls[key] // n,
                     "ms_per_step": round(1e3 * s, 3), "share": round(s / total_op_s, 4),
                     "gflop_per_step": round(f / 1e9, 4), **_rate(s, f, peak)})
    group_s: dict[str, float] = defaultdict(float)  # seconds per step
    group_f: dict[str, float] = defaultdict(float)  # FLOPs per step
    for key, secs in timer.seconds.items():
        group = key[0] if key[0] in HEAVY else "other"
        group_s[group] += secs / n
        group_f[group] += timer.flops.get(key, 0.0) / n
    summary = []
    for name in sorted(group_s, key=lambda g: -group_s[g]):
        s, f = group_s[name], group_f[name]
        summary.append({"group": name, "ms_per_step": round(1e3 * s, 2), "share": round(s / total_op_s, 3),
                        "gflop_per_step": round(f / 1e9, 3), **_rate(s, f, peak)})
    total_flop = sum(timer.flops.values()) / n / 1e9
    return {"benchmark": "step_profile", "machine": machine_info(device),
            "settings": {"preset": args.preset, "batch_size": args.batch_size, "steps": n,
                         "precision": "bf16" if engine.amp_dtype is not None else "fp32",
                         "channels_last": engine.channels_last},
            "matmul_peak_gflops": peak, "step_s_plain": round(plain, 5), "step_s_profiled": round(profiled, 5),
            "op_s_per_step": round(total_op_s, 5), "gflop_per_step": round(total_flop, 3),
            "step_gflops_plain": round(total_flop / plain, 1), "step_of_peak_plain": round(total_flop / plain / peak, 3),
            "groups": summary, "ops": rows}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--preset", default="mnist")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    p.add_argument("--steps", type=int, default=10, help="profiled steps (after 5 warm-up steps)")
    p.add_argument("--threads", type=int, help="torch threads (default: PyTorch's)")
    p.add_argument("--device", default="auto")
    p.add_argument("--top", type=int, default=15, help="operator rows to print")
    p.add_argument("--out", help="JSON path (default benchmarks/results/step_profile-<date>.json)")
    args = p.parse_args(argv)
    result = profile(args)
    print(table(result["groups"], ["group", "ms_per_step", "share", "gflop_per_step", "gflops", "of_peak"]))
    print()
    print(table(result["ops"][:args.top], ["op", "input_shape", "dtype", "calls_per_step", "ms_per_step", "share",
                                          "gflops", "of_peak"]))
    print(f"\nstep {1e3 * result['step_s_plain']:.1f} ms ({1e3 * result['step_s_profiled']:.1f} ms profiled); "
          f"{result['gflop_per_step']:.2f} GFLOP per step = {result['step_gflops_plain']:.0f} GFLOP/s "
          f"= {100 * result['step_of_peak_plain']:.0f}% of the {result['matmul_peak_gflops']:.0f} GFLOP/s matmul peak")
    print(f"wrote {write_result('step_profile', result, args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
