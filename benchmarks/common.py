"""Helpers shared by the benchmark scripts: machine facts, a matmul peak, FLOP counts, interleaved timing,
result files and text tables.

The machines these benchmarks run on are often shared, so every comparison is measured side by side:
the settings being compared take turns in short rounds (a change in load hits all of them alike), and
both wall-clock rates and rates per CPU-second of this process are recorded, with the load average.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from infogan.runtime.device import cpu_has_bf16
from infogan.storage import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results"


def machine_info(device: torch.device) -> dict:
    """What the numbers depend on: CPU/GPU model, bf16 support, threads, versions, load, date (UTC)."""
    info = {"date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "device": str(device), "torch": torch.__version__, "python": platform.python_version(),
            "cpu": _cpu_model(), "logical_cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "cpu_bf16": cpu_has_bf16(), "load_average_1m": round(os.getloadavg()[0], 2)}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def sync(device: torch.device) -> None:
    """Wait for queued device work (CUDA); nothing to wait for on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(dtype: torch.dtype, device: torch.device, *, size: int = 2048, repeats: int = 5) -> dict:
    """Best rate of one large square matmul: the practical compute ceiling of this device and dtype.

    Returns:
        ``{"gflops_wall": ..., "gflops_cpu": ...}``: GFLOP/s per wall second (best of ``repeats``) and per
        CPU-second of this process summed over its threads (best of ``repeats``; CPU only).
    """
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    flops = 2.0 * size ** 3
    a @ b  # warm-up: kernel selection, page faults
    sync(device)
    wall, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        a @ b
        sync(device)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    out = {"gflops_wall": round(flops / min(wall) / 1e9, 1)}
    if device.type == "cpu":
        out["gflops_cpu"] = round(flops / max(min(cpu), 1e-9) / 1e9, 1)
    return out


def synthetic_images(config, n: int = 4096) -> torch.Tensor:
    """``n`` random uint8 images (N, C, H, W) of the config's image shape: the benchmarks' training data."""
    gen = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, *config.model.image_shape), dtype=torch.uint8, generator=gen)


def synthetic_trainer(config, images: torch.Tensor, engine):
    """A ``Trainer`` on ``images`` with ``engine``, writing to a fresh temporary run folder, in train mode."""
    from infogan.data.base import ImageData
    from infogan.training import Trainer
    from infogan.training.rundir import create_run_dir

    outdir = Path(tempfile.mkdtemp(prefix="infogan-bench-"))
    trainer = Trainer(config, create_run_dir(outdir, config), ImageData(images, None, name="synthetic"),
                      progress=False, engine=engine)
    trainer.model.train()
    return trainer


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of the matmuls and convolutions (forward and backward) that one call of ``fn`` runs."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def interleaved(cases: dict[str, Callable[[], None]], *, rounds: int, device: torch.device) -> dict[str, dict]:
    """Time each case once per round, taking turns, so that all of them see the same changes in load.

    Args:
        cases: name -> a callable that runs one timed unit of work (e.g. ten training steps).
        rounds: how many times each case runs.
    Returns:
        name -> ``{"wall_s": [...], "cpu_s": [...]}``, one entry per round.
    """
    out = {name: {"wall_s": [], "cpu_s": []} for name in cases}
    for _ in range(rounds):
        for name, run in cases.items():
            sync(device)
            t, c = time.perf_counter(), time.process_time()
            run()
            sync(device)
            out[name]["wall_s"].append(time.perf_counter() - t)
            out[name]["cpu_s"].append(time.process_time() - c)
    return out


def rate_summary(seconds: list[float], units: float) -> dict:
    """Units per second: the median round and the best round (the best is what an idle machine gives)."""
    rates = [units / s for s in seconds]
    return {"median": round(statistics.median(rates), 1), "best": round(max(rates), 1)}


def write_result(name: str, payload: dict, out: str | os.PathLike | None = None) -> Path:
    """Write ``payload`` as ``benchmarks/results/<name>-<YYYY-MM-DD>.json`` (or ``out``), atomically."""
    path = Path(out) if out else RESULTS / f"{name}-{dt.date.today().isoformat()}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=False) + "\n")
    return path


def table(rows: list[dict], columns: list[str]) -> str:
    """A plain text table of ``rows`` (dicts) over ``columns``."""
    cells = [[_fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 10 else f"{value:.0f}"
    return str(value)
