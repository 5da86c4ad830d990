"""Training throughput (images/s) per preset, batch size and execution mode, against the slow-port baseline.

    python benchmarks/throughput.py --quick                  # MNIST, batch 128: baseline, fp32, bf16
    python benchmarks/throughput.py                          # MNIST, batches 64/128/256, eager and compiled
    python benchmarks/throughput.py --presets mnist,svhn --batch-sizes 128 --modes baseline,default,plain

Modes (each runs in its own worker process, so that allocator settings, compiled graphs and memory do not
leak from one to another; the workers take turns, one round each, ``--rounds`` times):

- ``baseline``: the slow port of ``baseline.py`` (per-sample Dataset + DataLoader, fp32 eager, two G
  forwards, D not frozen, per-tensor Adam, a host sync per step).
- ``default``: what ``infogan train`` runs here (precision auto, channels_last, fused Adam, allocator tuning).
- ``fp32`` / ``bf16``: the default path with that precision forced.
- ``plain``: the Trainer with every switch off (fp32, NCHW, foreach Adam, no allocator tuning).
- ``no-channels-last``, ``no-fused-adam``, ``no-malloc-tuning``: the default path minus one switch.
- any mode + ``+compile``: G and D wrapped in ``torch.compile``.
- ``peak``: not a training mode; a 2048^3 matmul in bf16 and fp32 each round, the compute ceiling (bf16 at
  512^3 where the CPU has no native bf16: it is emulated there, ~25x slower than fp32).

The timed unit is ``--steps`` iterations of what ``Trainer.run`` does per step (``train_step``, the
on-device stat accumulation, and the per-step finite check where the engine does one); ticks and snapshots
are left out. FLOPs per image are counted with ``torch.utils.flop_counter`` on one step of each path.
Speed-ups are the median over rounds of (mode rate / baseline rate in the same round).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import time
import traceback
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    count_flops,
    machine_info,
    matmul_peak,
    sync,
    synthetic_images,
    synthetic_trainer,
    table,
    write_result,
)

SWITCHES = ("amp", "channels_last", "fused", "malloc", "compile")


def parse_mode(mode: str) -> dict:
    """Mode name -> the switches of the Trainer path (None = the engine's own choice)."""
    base, _, extra = mode.partition("+")
    if extra not in ("", "compile"):
        raise SystemExit(f"unknown mode suffix {extra!r} in {mode!r}: only '+compile'")
    flags = {"amp": None, "channels_last": None, "fused": None, "malloc": True, "compile": extra == "compile"}
    if base == "fp32":
        flags["amp"] = False
    elif base == "bf16":
        flags["amp"] = True
    elif base == "plain":
        flags.update(amp=False, channels_last=False, fused=False, malloc=False)
    elif base.startswith("no-"):
        name = {"no-channels-last": "channels_last", "no-fused-adam": "fused", "no-malloc-tuning": "malloc"}.get(base)
        if name is None:
            raise SystemExit(f"unknown mode {mode!r}")
        flags[name] = False
    elif base not in ("default", "baseline", "peak"):
        raise SystemExit(f"unknown mode {mode!r}; see --help")
    return flags


# ----- worker processes ---------------------------------------------------------------------------------
def worker(conn, preset: str, batch: int, mode: str, threads: int | None, device: str, steps: int) -> None:
    """Build one training path, warm it up, then run one timed round per request from the parent."""
    try:
        if threads:
            torch.set_num_threads(threads)
        run, info, flops = _build(preset, batch, mode, device, steps)
        conn.send(("ready", info))
        while conn.recv() == "round":
            t, c = time.perf_counter(), time.process_time()
            extra = run()
            conn.send(("round", time.perf_counter() - t, time.process_time() - c, extra))
        # counted last: the counter's global module hooks would otherwise sit in the compiled graphs
        conn.send(("flops", flops() / batch if flops else None))
    except Exception:  # noqa: BLE001 - reported to the parent, which records the mode as failed
        conn.send(("error", traceback.format_exc(limit=6)))
    finally:
        conn.close()


def _build(preset: str, batch: int, mode: str, device_name: str, steps: int):
    import infogan
    from infogan.runtime import device as device_module
    from infogan.runtime import speed as speed_module
    from infogan.runtime.device import resolve_device
    from infogan.runtime.engine import Engine

    device = resolve_device(device_name)
    if mode == "peak":
        # Without native bf16 (AVX2 CPUs) a bf16 matmul is emulated at ~1.5 GFLOP/s (2026-12-02, one EPYC
        # core): a 2048^3 one takes ~12 s, so it is measured at 512^3, enough to show it is not the ceiling.
        emulated = device.type == "cpu" and not device_module.cpu_has_bf16()

        def peak():
            bf16 = matmul_peak(torch.bfloat16, device, **({"size": 512, "repeats": 2} if emulated else {}))
            return {"bf16": {**bf16, "native": not emulated}, "fp32": matmul_peak(torch.float32, device)}
        return peak, {"mode": mode}, None

    config = infogan.get_preset(preset).replace(train={"batch_size": batch, "device": device_name})
    images = synthetic_images(config)
    if mode == "baseline":
        from baseline import SlowPortTrainer

        config = config.replace(train={"precision": "fp32"})
        slow = SlowPortTrainer(config, images)
        for _ in range(2):
            slow.train_step()

        def run_slow():
            for _ in range(steps):
                slow.train_step()
        return run_slow, {"mode": mode, "precision": "fp32"}, lambda: count_flops(slow.train_step)

    flags = parse_mode(mode)
    if not flags["malloc"]:
        speed_module.keep_freed_memory = lambda: False  # this worker only: glibc's defaults stay
    precision = {None: "auto", True: "bf16", False: "fp32"}[flags["amp"]]
    config = config.replace(train={"precision": precision, "compile": flags["compile"]})
    engine = Engine.from_config(config.train)
    if flags["channels_last"] is not None:
        engine.channels_last = flags["channels_last"]
    trainer = synthetic_trainer(config, images, engine)
    if flags["fused"] is False:
        for group in trainer.opt_d.param_groups + trainer.opt_g.param_groups:
            group["fused"], group["foreach"] = False, True
    t = time.perf_counter()
    for _ in range(3):  # compiles here when compiling
        trainer.train_step()
    sync(device)
    warmup = time.perf_counter() - t
    check = getattr(trainer, "_check_step", None) if engine.check_every_step else None

    def run_fast():
        for _ in range(steps):  # what Trainer.run does per step, minus ticks and snapshots
            out = trainer.train_step()
            trainer._accumulate(out)
            if check is not None:
                check(out)
        trainer._acc = {}
    uses_compile = flags["compile"] and trainer.G is not trainer.model.G
    return run_fast, {"mode": mode, "warmup_s": round(warmup, 1),
                      "precision": "bf16" if engine.amp_dtype is not None else "fp32",
                      "channels_last": engine.channels_last, "compiled": bool(uses_compile),
                      "adam": "fused" if trainer.opt_d.param_groups[0].get("fused") else "foreach"}, \
        lambda: count_flops(trainer.train_step)


def sampling_worker(conn, threads: int | None, device: str, repeats: int) -> None:
    """Seconds to generate 10,000 MNIST images and to score the code on the 10,000 test images."""
    try:
        import infogan
        from infogan.data import load_dataset
        from infogan.inference.generate import generate
        from infogan.metrics.code_accuracy import code_accuracy
        from infogan.models import build_model
        from infogan.runtime.device import resolve_device

        if threads:
            torch.set_num_threads(threads)
        torch.manual_seed(0)
        model = build_model(infogan.get_preset("mnist").model).to(resolve_device(device))
        try:
            test, source = load_dataset("mnist", split="test", download=False), "MNIST test split"
        except Exception:  # noqa: BLE001 - no cached MNIST: same shapes, random pixels
            test, source = load_dataset("fake", split="test"), "fake images (MNIST not cached)"
        out = {"images": 10_000, "test_images": len(test.images), "test_source": source}
        for layout in ("nchw", "channels_last"):
            model.to(memory_format=torch.channels_last if layout == "channels_last" else torch.contiguous_format)
            gen, acc = [], []
            for _ in range(repeats):
                t = time.perf_counter()
                generate(model, n=10_000, generator=torch.Generator().manual_seed(0))
                gen.append(time.perf_counter() - t)
                t = time.perf_counter()
                code_accuracy(model, test)
                acc.append(time.perf_counter() - t)
            out[layout] = {"generate_s_best": round(min(gen), 2), "generate_s_median": round(statistics.median(gen), 2),
                           "code_accuracy_s_best": round(min(acc), 2),
                           "code_accuracy_s_median": round(statistics.median(acc), 2)}
        conn.send(("done", out))
    except Exception:  # noqa: BLE001
        conn.send(("error", traceback.format_exc(limit=6)))
    finally:
        conn.close()


def measure_sampling(args) -> dict:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=sampling_worker, args=(child, args.threads, args.device, 3))
    proc.start()
    child.close()
    kind, value = parent.recv()
    proc.join()
    return value if kind == "done" else {"error": value.strip().splitlines()[-1]}


# ----- the parent ---------------------------------------------------------------------------------------
def measure_group(preset: str, batch: int, modes: list[str], args) -> dict:
    """All modes of one (preset, batch): start the workers, interleave the rounds, collect the rates."""
    ctx = mp.get_context("spawn")
    workers, infos = {}, {}
    for mode in modes + ["peak"]:
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=worker, args=(child, preset, batch, mode, args.threads, args.device, args.steps))
        proc.start()
        child.close()
        msg = parent.recv()  # one at a time: warm-ups (and compiles) do not overlap the others
        if msg[0] == "error":
            print(f"[{preset} b{batch}] {mode} failed:\n{msg[1]}", file=sys.stderr)
            infos[mode] = {"mode": mode, "error": msg[1].strip().splitlines()[-1]}
            proc.join()
            continue
        workers[mode] = (proc, parent)
        infos[mode] = msg[1]
    rounds = {m: [] for m in workers}
    for _ in range(args.rounds):
        for mode, (_, conn) in workers.items():
            conn.send("round")
            rounds[mode].append(conn.recv()[1:])
    for mode, (proc, conn) in workers.items():
        conn.send("stop")
        infos[mode]["flops_per_image"] = conn.recv()[1]
        proc.join()
    return _summarise(preset, batch, modes, infos, rounds, args)


def _summarise(preset, batch, modes, infos, rounds, args) -> dict:
    images = batch * args.steps
    peaks = [r[2] for r in rounds.get("peak", [])]
    peak = {dtype: {"median": statistics.median(p[dtype]["gflops_wall"] for p in peaks),
                    "best": max(p[dtype]["gflops_wall"] for p in peaks)} for dtype in ("bf16", "fp32")} if peaks else {}
    base = [images / r[0] for r in rounds.get("baseline", [])]
    rows = []
    for mode in modes:
        info = dict(infos[mode])
        if "error" in info or mode not in rounds:
            rows.append(info)
            continue
        wall = [images / r[0] for r in rounds[mode]]
        cpu = [images / r[1] for r in rounds[mode]]
        row = {**info, "preset": preset, "batch": batch,
               "img_per_s": round(statistics.median(wall), 1), "img_per_s_best": round(max(wall), 1),
               "img_per_cpu_s": round(statistics.median(cpu), 1), "rounds_img_per_s": [round(w, 1) for w in wall]}
        if base:
            row["speedup_vs_baseline"] = round(statistics.median(w / b for w, b in zip(wall, base)), 2)
        if peak:
            gflops = row["img_per_s"] * info["flops_per_image"] / 1e9
            row["achieved_gflops"] = round(gflops, 1)
            row["fraction_of_bf16_peak"] = round(gflops / peak["bf16"]["median"], 3)
            row["fraction_of_own_dtype_peak"] = round(gflops / peak[info["precision"]]["median"], 3)
            # the ceiling is the faster matmul of the two: bf16 where the CPU has it natively, else fp32
            best = max(peak["bf16"]["median"], peak["fp32"]["median"])
            row["fraction_of_best_peak"] = round(gflops / best, 3)
            row["compute_limit_img_per_s"] = round(best * 1e9 / info["flops_per_image"], 1)
        rows.append(row)
    return {"preset": preset, "batch": batch, "matmul_peak_gflops": peak, "modes": rows}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--quick", action="store_true", help="MNIST, batch 128, baseline/fp32/bf16, 3 rounds of 5 steps")
    p.add_argument("--presets", default="mnist", help="comma-separated presets, or 'all'")
    p.add_argument("--batch-sizes", default="64,128,256")
    p.add_argument("--modes", default="baseline,fp32,bf16,fp32+compile,bf16+compile")
    p.add_argument("--steps", type=int, default=10, help="training steps per timed round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=None, help="torch threads per worker (default: PyTorch's)")
    p.add_argument("--device", default="auto")
    p.add_argument("--no-sampling", action="store_true", help="skip the generate/evaluate timings")
    p.add_argument("--out", default=None, help="JSON path (default benchmarks/results/throughput-<date>.json)")
    args = p.parse_args(argv)
    if args.quick:
        args.batch_sizes, args.modes, args.rounds, args.steps = "128", "baseline,fp32,bf16", 3, 5
    import infogan

    presets = ([n for n in sorted(infogan.PRESETS) if n not in ("fake", "mnist-official")]
               if args.presets == "all" else args.presets.split(","))
    modes = args.modes.split(",")
    for mode in modes:
        parse_mode(mode)
    from infogan.runtime.device import resolve_device

    device = resolve_device(args.device)
    info = machine_info(device)
    if args.threads:
        info["torch_threads"] = args.threads
    groups = []
    for preset in presets:
        for batch in map(int, args.batch_sizes.split(",")):
            print(f"measuring {preset} batch {batch}: {', '.join(modes)} ...", flush=True)
            groups.append(measure_group(preset, batch, modes, args))
            print(table(groups[-1]["modes"], ["preset", "batch", "mode", "precision", "img_per_s", "img_per_s_best",
                                              "img_per_cpu_s", "speedup_vs_baseline", "achieved_gflops",
                                              "fraction_of_best_peak", "compute_limit_img_per_s", "error"]), flush=True)
            print(f"matmul peak GFLOP/s (median of rounds): {groups[-1]['matmul_peak_gflops']}", flush=True)
    sampling = None
    if not args.no_sampling:
        print("measuring sampling: generate 10,000 MNIST images, code accuracy on the test split ...", flush=True)
        sampling = measure_sampling(args)
        print(sampling, flush=True)
    info["load_average_1m_end"] = round(os.getloadavg()[0], 2)
    payload = {"benchmark": "throughput", "machine": info, "sampling_fp32": sampling,
               "settings": {"steps_per_round": args.steps, "rounds": args.rounds, "quick": args.quick,
                            "modes": modes, "presets": presets, "batch_sizes": args.batch_sizes},
               "results": groups}
    path = write_result("throughput-quick" if args.quick else "throughput", payload, args.out)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
