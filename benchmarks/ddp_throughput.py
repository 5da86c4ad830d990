"""Training throughput of 1 process against N processes under torchrun (gloo on CPU, NCCL on GPUs).

Settings: 1 process with all cores' threads (torch's default), 1 process with the per-process thread count
of the N-process run, and N processes (OMP_NUM_THREADS = cores / N each, at least 1). Runs the real
command line on each setting, alternating settings over ``--repeats`` rounds so that a change in machine
load hits all alike, and reads the images/s of the last tick from each run's
``stats.jsonl`` (the first tick, which includes start-up, is skipped). Also times one ``all_reduce`` of a
gradient-sized buffer, which is what data parallelism adds per optimiser step.

    python benchmarks/ddp_throughput.py --preset mnist --batch-size 64 --iterations 60 --tick 30 \
        --nproc 2 --out benchmarks/results/ddp_throughput.json

Writes a JSON object: machine, date, load average, settings, images/s per setting (each round and the
median) and the all-reduce timing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")

_ALL_REDUCE = """
import time, torch, torch.distributed as dist
dist.init_process_group("gloo")
x = torch.ones({numel})
for _ in range(2):
    dist.all_reduce(x)
t = time.perf_counter()
for _ in range({reps}):
    dist.all_reduce(x)
if dist.get_rank() == 0:
    print((time.perf_counter() - t) / {reps})
dist.destroy_process_group()
"""


def run_training(nproc: int, threads: int, args, outdir: Path) -> float:
    """Images/s of the last tick of one short run on ``nproc`` processes (1 = no torchrun)."""
    env = {k: v for k, v in os.environ.items() if k not in TORCHRUN_VARS}
    env["OMP_NUM_THREADS"] = str(threads)
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc)]
    cmd = (launcher if nproc > 1 else [sys.executable]) + [
        "-m", "infogan", "train", "--preset", args.preset, "--batch-size", str(args.batch_size),
        "--iterations", str(args.iterations), "--tick", str(args.tick), "--precision", args.precision,
        "--outdir", str(outdir), "--no-eval", "--no-progress"]
    subprocess.run(cmd, check=True, env=env, capture_output=True, text=True)
    run = max(outdir.iterdir())  # the newest numbered folder
    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    return float(stats[-1]["images_per_s"])


def time_all_reduce(nproc: int, numel: int, reps: int = 5) -> float:
    """Seconds per gloo all_reduce of ``numel`` float32 values over ``nproc`` local processes."""
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(_ALL_REDUCE.format(numel=numel, reps=reps))
    env = {k: v for k, v in os.environ.items() if k not in TORCHRUN_VARS}
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                          str(nproc), f.name], check=True, env=env, capture_output=True, text=True)
    os.unlink(f.name)
    return float(res.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="mnist")
    p.add_argument("--batch-size", type=int, default=64, help="global batch (split over the processes)")
    p.add_argument("--iterations", type=int, default=60)
    p.add_argument("--tick", type=int, default=30)
    p.add_argument("--precision", default="fp32")
    p.add_argument("--nproc", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/ddp_throughput.json"))
    args = p.parse_args()

    import infogan

    model = infogan.models.build_model(infogan.get_preset(args.preset).model)
    numel = sum(q.numel() for q in model.parameters())
    cores = os.cpu_count() or 1
    per_process = max(1, cores // args.nproc)
    settings = [(1, cores), (1, per_process), (args.nproc, per_process)]
    settings = list(dict.fromkeys(settings))  # 1 core: the first two coincide
    results: dict[str, list[float]] = {f"{n}x{t}": [] for n, t in settings}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for nproc, threads in settings:
                key = f"{nproc}x{threads}"
                ips = run_training(nproc, threads, args, Path(tmp) / f"{key}-r{r}")
                results[key].append(ips)
                print(f"round {r}: {nproc} process(es) x {threads} thread(s): {ips:.1f} images/s", flush=True)
    all_reduce_s = time_all_reduce(args.nproc, numel)
    report = {
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPU cores",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "load_average_1min": os.getloadavg()[0],
        "settings": {k: getattr(args, k) for k in ("preset", "batch_size", "iterations", "tick", "precision",
                                                   "nproc", "repeats")},
        "images_per_s (processes x threads)": {k: {"rounds": v, "median": statistics.median(v)}
                                               for k, v in results.items()},
        "all_reduce": {"parameters": numel, "seconds": all_reduce_s, "backend": "gloo"},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
