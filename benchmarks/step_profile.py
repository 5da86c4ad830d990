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
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, matmul_peak, sync, table, write_result

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
    from infogan.data.base import ImageData
    from infogan.engine import Engine
    from infogan.runs import create_run_dir
    from infogan.training import Trainer

    config = infogan.get_preset(preset).replace(train={"batch_size": batch, "device": device_name,
                                                       "precision": precision})
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (4096, *config.model.image_shape), dtype=torch.uint8, generator=gen)
    engine = Engine.from_config(config.train)
    outdir = Path(tempfile.mkdtemp(prefix="infogan-profile-"))
    trainer = Trainer(config, create_run_dir(outdir, config), ImageData(images, None, name="synthetic"),
                      progress=False, engine=engine)
    trainer.model.train()
    return trainer, engine


def profile(args) -> dict:
    if args.threads:
        torch.set_num_threads(args.threads)
    trainer, engine = build_trainer(args.preset, args.batch_size, args.device, args.precision)
    device = engine.device
    dtype = engine.amp_dtype or torch.float32
    for _ in range(5):
        trainer.train_step()
    sync(device)
    t = time.perf_counter()
    for _ in range(args.steps):
        trainer.train_step()
    sync(device)
    plain = (time.perf_counter() - t) / args.steps
    timer = OpTimer(device)
    t = time.perf_counter()
    with timer:
        for _ in range(args.steps):
            trainer.train_step()
    profiled = (time.perf_counter() - t) / args.steps
    peak = matmul_peak(dtype, device)["gflops_wall"]

    n = args.steps
    total_op_s = sum(timer.seconds.values()) / n
    rows = []
    for key, secs in sorted(timer.seconds.items(), key=lambda kv: -kv[1]):
        op, shape, dt = key
        s, f = secs / n, timer.flops.get(key, 0.0) / n
        rows.append({"op": op, "input_shape": list(shape), "dtype": dt, "calls_per_step": timer.calls[key] // n,
                     "ms_per_step": round(1e3 * s, 3), "share": round(s / total_op_s, 4),
                     "gflop_per_step": round(f / 1e9, 4),
                     "gflops": round(f / s / 1e9, 1) if f else None,
                     "of_peak": round(f / s / 1e9 / peak, 3) if f else None})
    groups: dict[str, dict] = defaultdict(lambda: {"ms_per_step": 0.0, "gflop_per_step": 0.0})
    for r in rows:
        g = groups[r["op"] if r["op"] in HEAVY else "other"]
        g["ms_per_step"] += r["ms_per_step"]
        g["gflop_per_step"] += r["gflop_per_step"]
    summary = []
    for name, g in sorted(groups.items(), key=lambda kv: -kv[1]["ms_per_step"]):
        rate = g["gflop_per_step"] / (g["ms_per_step"] / 1e3) if g["gflop_per_step"] else None
        summary.append({"group": name, "ms_per_step": round(g["ms_per_step"], 2),
                        "share": round(g["ms_per_step"] / (1e3 * total_op_s), 3),
                        "gflop_per_step": round(g["gflop_per_step"], 3),
                        "gflops": round(rate, 1) if rate else None,
                        "of_peak": round(rate / peak, 3) if rate else None})
    total_flop = sum(r["gflop_per_step"] for r in rows)
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
