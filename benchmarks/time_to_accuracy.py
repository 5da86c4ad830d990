"""Wall time and images seen until the categorical code of an MNIST InfoGAN first reaches 90% / 95% test
accuracy, over several seeds; and whether the fast path learns what the plain fp32 path learns.

    python benchmarks/time_to_accuracy.py --quick                 # seeds 0,1; default path; 600 iterations
    python benchmarks/time_to_accuracy.py --seeds 0,1,2,3,4       # preset schedule (1500 it, batch 64)
    python benchmarks/time_to_accuracy.py --paths default,plain --plain-iterations 600   # + learning check

Each (seed, path) run trains in its own process (so that allocator settings do not carry over), runs
after the other, in the order seed 0 default, seed 0 plain, seed 1 default, ... Every ``--eval-every``
iterations the training clock stops and the code is scored on the 10,000 MNIST test images exactly as
``infogan evaluate`` does (``code_acc_mnist_test``: argmax Q(c1|x) in fp32 with batch norm in eval
mode, Hungarian matching); L_I per code is the mean of the training steps since the last evaluation.

Paths: ``default`` is what ``infogan train`` runs on this machine (precision auto, channels_last, fused
Adam, allocator tuning); ``plain`` is fp32, NCHW, foreach Adam, glibc's allocator defaults.
Times are the training steps only (``train_step`` plus the per-step bookkeeping of ``Trainer.run``):
evaluations, sample grids and snapshots are excluded and reported separately.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, table, write_result


def train_and_score(conn, seed: int, path: str, args_dict: dict) -> None:
    """One run: train, scoring the code every ``eval_every`` iterations; sends the record to the parent."""
    try:
        conn.send(("done", _run(seed, path, argparse.Namespace(**args_dict))))
    except Exception:  # noqa: BLE001 - reported by the parent
        conn.send(("error", traceback.format_exc(limit=6)))
    finally:
        conn.close()


def _run(seed: int, path: str, args) -> dict:
    import infogan
    from infogan.api import load_training_data
    from infogan.config.presets import apply_schedule
    from infogan.data import load_dataset
    from infogan.metrics.code_accuracy import code_accuracy
    from infogan.runtime import speed as speed_module
    from infogan.runtime.engine import Engine
    from infogan.training import Trainer
    from infogan.training.rundir import create_run_dir

    if args.threads:
        torch.set_num_threads(args.threads)
    config = apply_schedule(infogan.get_preset(args.preset), args.schedule)
    train = {"seed": seed, "device": args.device}
    if args.batch_size:
        train["batch_size"] = args.batch_size
    if path == "plain":
        train["precision"] = "fp32"
        speed_module.keep_freed_memory = lambda: False  # this process only: glibc's defaults
    config = config.replace(train=train)
    iterations = (args.plain_iterations if path == "plain" else None) or args.iterations or config.train.iterations
    engine = Engine.from_config(config.train)
    if path == "plain":
        engine.channels_last = False
    data, test = load_training_data(config), load_dataset(config.data.dataset, split="test")
    outdir = Path(tempfile.mkdtemp(prefix="infogan-tta-"))
    trainer = Trainer(config, create_run_dir(outdir, config), data, progress=False, engine=engine)
    if path == "plain":
        for group in trainer.opt_d.param_groups + trainer.opt_g.param_groups:
            group["fused"], group["foreach"] = False, True
    names = trainer.model.spec.code_names()
    check = getattr(trainer, "_check_step", None) if engine.check_every_step else None
    batch = config.train.batch_size
    train_s = cpu_s = eval_s = 0.0
    curve: list[dict] = []
    info_sum, info_n = None, 0
    trainer.model.train()
    for step in range(1, iterations + 1):
        t, c = time.perf_counter(), time.process_time()
        out = trainer.train_step()
        if check is not None:
            check(out)
        info_sum = out["info"].float() if info_sum is None else info_sum + out["info"].float()
        info_n += 1
        train_s += time.perf_counter() - t
        cpu_s += time.process_time() - c
        if step % args.eval_every and step != iterations:
            continue
        t = time.perf_counter()
        score = code_accuracy(trainer.model, test)  # sets eval mode
        trainer.model.train()
        eval_s += time.perf_counter() - t
        point = {"step": step, "images": step * batch, "train_s": round(train_s, 2), "cpu_s": round(cpu_s, 2),
                 "accuracy": round(score["accuracy"], 4), "nmi": round(score["nmi"], 4),
                 **{f"L_I/{n}": round(v, 4) for n, v in zip(names, (info_sum / info_n).tolist())}}
        info_sum, info_n = None, 0
        curve.append(point)
        print(f"  seed {seed} {path}: step {step} acc {point['accuracy']:.4f} L_I/c1 {point.get('L_I/c1', 0):.3f} "
              f"train {train_s:.0f}s", flush=True)
    return {"seed": seed, "path": path, "batch": batch, "iterations": iterations,
            "precision": "bf16" if engine.amp_dtype is not None else "fp32", "channels_last": engine.channels_last,
            "train_s": round(train_s, 2), "cpu_s": round(cpu_s, 2), "eval_s": round(eval_s, 2),
            "evaluations": len(curve), "img_per_s": round(iterations * batch / train_s, 1),
            "reached": {f"{t:g}": first_reach(curve, t) for t in args.thresholds}, "final": curve[-1],
            "best_accuracy": max(p["accuracy"] for p in curve), "curve": curve}


def first_reach(curve: list[dict], threshold: float) -> dict | None:
    """The first evaluation at or above ``threshold``: its step, images seen and training seconds."""
    for point in curve:
        if point["accuracy"] >= threshold:
            return {k: point[k] for k in ("step", "images", "train_s")}
    return None


def summarise(runs: list[dict], paths: list[str], thresholds: list[float]) -> dict:
    """Per path: time/images to each threshold (median, min, max over the seeds that reached it, and how
    many did), final accuracy and L_I (mean and sd over seeds); with several paths, every path's accuracy
    and L_I at the last step all of them evaluated (``compare_at``), per seed and as mean and sd."""
    out: dict = {}
    for path in paths:
        rs = [r for r in runs if r["path"] == path and "error" not in r]
        if not rs:
            continue
        entry = {"seeds": [r["seed"] for r in rs], "img_per_s_median": statistics.median(r["img_per_s"] for r in rs)}
        entry["best_accuracy"] = [max(p["accuracy"] for p in r["curve"]) for r in rs]
        for t in thresholds:
            hits = [h for h in (first_reach(r["curve"], t) for r in rs) if h is not None]
            key = f"to_{round(100 * t)}pct"
            entry[key] = {"reached": f"{len(hits)}/{len(rs)}"}
            if hits:
                for field in ("train_s", "images"):
                    values = [h[field] for h in hits]
                    entry[key][field] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
            if len(hits) * 2 <= len(rs):
                entry[key]["note"] = "fewer than half the seeds reached it: the median over all seeds is censored"
        finals = {k: [r["final"][k] for r in rs] for k in rs[0]["final"] if k == "accuracy" or k.startswith("L_I/")}
        entry["final"] = {k: {"mean": round(statistics.mean(v), 4),
                              "sd": round(statistics.stdev(v), 4) if len(v) > 1 else None,
                              "values": v} for k, v in finals.items()}
        out[path] = entry
    done = [r for r in runs if "error" not in r]
    if len({r["path"] for r in done}) > 1:
        common = set.intersection(*({p["step"] for p in r["curve"]} for r in done))
        if common:
            step = max(common)
            out["compare_at"] = {"step": step}
            for path in paths:
                points = [next(p for p in r["curve"] if p["step"] == step) for r in done if r["path"] == path]
                keys = [k for k in points[0] if k == "accuracy" or k.startswith("L_I/")] if points else []
                out["compare_at"][path] = {k: {"mean": round(statistics.mean(p[k] for p in points), 4),
                                               "sd": round(statistics.stdev(p[k] for p in points), 4)
                                               if len(points) > 1 else None,
                                               "values": [p[k] for p in points]} for k in keys}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--quick", action="store_true", help="seeds 0,1, 600 iterations, evaluation every 100")
    p.add_argument("--preset", default="mnist")
    p.add_argument("--schedule", default=None, help="preset schedule (default: the preset's first, 'quick')")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--paths", default="default", help="comma-separated: default, plain")
    p.add_argument("--iterations", type=int, default=None, help="default: the schedule's")
    p.add_argument("--plain-iterations", type=int, default=None, help="iterations of the plain path (default: same)")
    p.add_argument("--batch-size", type=int, default=None, help="default: the schedule's")
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--thresholds", default="0.5,0.7,0.9,0.95",
                   help="accuracies to time (the lower ones say how far runs get that miss 90%%)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.iterations, args.eval_every = "0,1", args.iterations or 600, 100
    args.thresholds = [float(t) for t in args.thresholds.split(",")]
    paths = args.paths.split(",")
    unknown = set(paths) - {"default", "plain"}
    if unknown:
        raise SystemExit(f"unknown path(s) {sorted(unknown)}: use default, plain")
    from infogan.runtime.device import resolve_device

    info = machine_info(resolve_device(args.device))
    if args.threads:
        info["torch_threads"] = args.threads
    ctx = mp.get_context("spawn")
    runs = []
    shared = {k: v for k, v in vars(args).items()}
    for seed in map(int, args.seeds.split(",")):
        for path in paths:
            print(f"seed {seed}, path {path} ...", flush=True)
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=train_and_score, args=(child, seed, path, shared))
            proc.start()
            child.close()
            kind, value = parent.recv()
            proc.join()
            if kind == "error":
                print(value, file=sys.stderr)
                runs.append({"seed": seed, "path": path, "error": value.strip().splitlines()[-1]})
                continue
            runs.append(value)
    summary = summarise(runs, paths, args.thresholds)
    rows = [{"seed": r["seed"], "path": r["path"], "precision": r.get("precision"), "img_per_s": r.get("img_per_s"),
             **{f"s_to_{round(100 * t)}": (r.get("reached", {}).get(f"{t:g}") or {}).get("train_s", "-")
                for t in args.thresholds},
             "best_acc": r.get("best_accuracy"),
             "final_acc": r.get("final", {}).get("accuracy"), "final_L_I_c1": r.get("final", {}).get("L_I/c1"),
             "error": r.get("error", "")} for r in runs]
    print(table(rows, list(rows[0])))
    import json

    print(json.dumps(summary, indent=1))
    info["load_average_1m_end"] = round(__import__("os").getloadavg()[0], 2)
    payload = {"benchmark": "time_to_accuracy", "machine": info,
               "settings": {k: v for k, v in vars(args).items() if k != "out"}, "summary": summary, "runs": runs}
    path = write_result("time_to_accuracy-quick" if args.quick else "time_to_accuracy", payload, args.out)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
