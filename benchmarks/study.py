"""Training setups compared over seeds: what G draws and what Q reads, for MNIST and dSprites variants.

Each variant is a preset plus config overrides, trained either by the project's trainer (resumable, through
the same ``train_planned`` as ``infogan reproduce``) or by the plain reference loop of
``benchmarks/reference_loop.py``; every run is then evaluated once at its last step and, with
``--eval-every``, along the way (a curve). MNIST variants: test accuracy of c1, FID/KID/precision/recall and
purity (10,000 samples, the shipped digit features; the curve: FID and accuracy on 2,000). dSprites
variants: the shape score (10,000 samples), MIG (10,000) and the FactorVAE score on 2,000 votes (its
protocol name says so); the curve: shape score and MIG on 2,000. Runs train ``--jobs`` at a time, each in its own
process with ``--threads`` torch threads; finished runs and evaluations are skipped, so the same command
continues an interrupted study.

    python benchmarks/study.py --variants official-b64,consistent-b64 --seeds 0,1,2 --outdir runs/study \
        --jobs 2 --json benchmarks/results/sample_quality_study.json
    python benchmarks/study.py --variants dsprites,dsprites-cr --iterations 20000 --eval-every 2000 \
        --outdir runs/dsprites-study
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

import torch

import infogan
from infogan.cli.args import apply_settings
from infogan.config import RunConfig
from infogan.errors import InfoGANError
from infogan.reproduce.plan import PlannedRun, run_status
from infogan.reproduce.pool import EXIT_DONE, EXIT_ERROR, run_in_processes
from infogan.snapshot import SNAPSHOT_NAME, snapshot_step

sys.path.insert(0, str(Path(__file__).resolve().parent))

FINAL_METRICS = {"mnist": ("code_acc", "fid", "kid", "prd", "purity"), "dsprites": ("shape", "mig", "factorvae")}
# reduced protocols, named as such (FactorVAE's votes each encode a batch of 64: 960,000 images at 10k/5k)
FINAL_SAMPLES = {"mnist": {}, "dsprites": {"factorvae": 2000}}
CURVE_METRICS = {"mnist": "fid,code_acc", "dsprites": "shape,mig"}
# name: (preset, config overrides, training path)
VARIANTS: dict[str, tuple[str, dict, str]] = {
    "official-b64": ("mnist-official", {"train": {"batch_size": 64}}, "trainer"),
    "official-b128": ("mnist-official", {"train": {"batch_size": 128}}, "trainer"),
    "consistent-b64": ("mnist-consistent", {"train": {"batch_size": 64}}, "trainer"),
    "consistent-b128": ("mnist-consistent", {"train": {"batch_size": 128}}, "trainer"),
    "reference-official-b128": ("mnist-official", {"train": {"batch_size": 128}}, "reference"),
    "reference-official-b64": ("mnist-official", {"train": {"batch_size": 64}}, "reference"),
    "official-b128-fresh": ("mnist-official", {"train": {"batch_size": 128}, "optim": {"g_latent": "fresh"}}, "trainer"),
    "official-b64-fresh": ("mnist-official", {"train": {"batch_size": 64}, "optim": {"g_latent": "fresh"}}, "trainer"),
    "official-b64-fp32": ("mnist-official", {"train": {"batch_size": 64, "precision": "fp32"}}, "trainer"),
    "official-b64-epoch": ("mnist-official", {"train": {"batch_size": 64, "sampling": "epoch"}}, "trainer"),
    "consistent-b64-epoch": ("mnist-consistent", {"train": {"batch_size": 64, "sampling": "epoch"}}, "trainer"),
    "official-b128-fp32": ("mnist-official", {"train": {"batch_size": 128, "precision": "fp32"}}, "trainer"),
    "consistent-b64-d-only": ("mnist-consistent", {"train": {"batch_size": 64}, "optim": {"consistency_to_g": False}},
                              "trainer"),
    "consistent-b128-d-only": ("mnist-consistent",
                               {"train": {"batch_size": 128}, "optim": {"consistency_to_g": False}}, "trainer"),
    "consistent-b64-small": ("mnist-consistent", {"train": {"batch_size": 64}, "optim": {
        "consistency_rotation": 10.0, "consistency_scale": 0.05, "consistency_shift": 0.025}}, "trainer"),
    "consistent-b64-fresh": ("mnist-consistent", {"train": {"batch_size": 64}, "optim": {"g_latent": "fresh"}},
                             "trainer"),
    "consistent-b64-warmup": ("mnist-consistent", {"train": {"batch_size": 64}, "optim": {"consistency_warmup": 1000}},
                              "trainer"),
    "consistent-b64-real": ("mnist-consistent", {"train": {"batch_size": 64}, "optim": {"consistency_real": 1.0}},
                            "trainer"),
    "consistent-b64-d-only-real": ("mnist-consistent", {"train": {"batch_size": 64}, "optim": {
        "consistency_to_g": False, "consistency_real": 1.0}}, "trainer"),
    "consistent-b128-small": ("mnist-consistent", {"train": {"batch_size": 128}, "optim": {
        "consistency_rotation": 10.0, "consistency_scale": 0.05, "consistency_shift": 0.025}}, "trainer"),
    # dSprites: the project's preset, InfoGAN-CR's exact model and training, and one switch at a time between
    "dsprites": ("dsprites", {}, "trainer"),
    "dsprites-cr": ("dsprites-cr", {}, "trainer"),
    "dsprites-cr-one-g-step": ("dsprites-cr", {"optim": {"g_steps": 1}}, "trainer"),
    "dsprites-cr-uniform": ("dsprites-cr", {"train": {"sampling": "uniform"}}, "trainer"),
    "dsprites-two-g-steps": ("dsprites", {"optim": {"g_steps": 2}}, "trainer"),
    "dsprites-fp32": ("dsprites", {"train": {"precision": "fp32"}}, "trainer"),
    "dsprites-no-sn": ("dsprites", {"model": {"spectral_norm": False}}, "trainer"),
    "dsprites-lr2e-4": ("dsprites", {"optim": {"lr_d": 2e-4, "lr_g": 2e-4}}, "trainer"),
    "dsprites-d2": ("dsprites", {"optim": {"d_steps": 2}}, "trainer"),
    "dsprites-d5": ("dsprites", {"optim": {"d_steps": 5}}, "trainer"),
    "dsprites-logit8": ("dsprites", {"optim": {"g_logit_bound": 8.0}}, "trainer"),
    "dsprites-coord": ("dsprites", {"model": {"arch": "dsprites-coord"}}, "trainer"),
    "dsprites-broadcast": ("dsprites", {"model": {"arch": "dsprites-broadcast"}}, "trainer"),
    "dsprites-mbstd": ("dsprites", {"model": {"arch": "dsprites-mbstd"}}, "trainer"),
    "dsprites-cat3": ("dsprites", {"model": {"latent": "noise5:uniform,cat3,unif5:lambda=0.05:std=fixed"}}, "trainer"),
    "dsprites-cat3-l005": ("dsprites", {"model": {
        "latent": "noise5:uniform,cat3:lambda=0.05,unif5:lambda=0.05:std=fixed"}}, "trainer"),
    "dsprites-cr-model-only": ("dsprites-cr", {"optim": {"g_steps": 1, "loss_eps": 0.0, "sn_update": "every_call"},
                                               "train": {"sampling": "uniform"}}, "trainer"),
}
# Every variant that does not name its sampling was measured drawing its batches with replacement (the
# trainer's default); pinned, so that the committed results stay reproducible whatever the default becomes.
for _preset, _overrides, _path in VARIANTS.values():
    if _path == "trainer" and _preset != "dsprites-cr":
        _overrides.setdefault("train", {}).setdefault("sampling", "uniform")


def kind_of(variant: str) -> str:
    """"dsprites" or "mnist": which metrics the variant's runs get."""
    return "dsprites" if infogan.get_preset(VARIANTS[variant][0]).data.dataset == "dsprites" else "mnist"


def variant_config(name: str, seed: int, iterations: int, eval_every: int) -> RunConfig:
    """The config of one run of the study."""
    preset, overrides, _ = VARIANTS[name]
    cfg = infogan.get_preset(preset)
    for section, fields in overrides.items():
        cfg = cfg.replace(**{section: fields})
    tick = 50 if kind_of(name) == "mnist" else 250
    return cfg.replace(train={"iterations": iterations, "seed": seed, "eval_every": eval_every, "tick": tick,
                              "snapshot_every": 500 if tick == 50 else 2000,
                              "eval_metrics": CURVE_METRICS[kind_of(name)]}, notes=f"study variant {name}")


def _job(variant: str, config_json: str, run_dir: Path, threads: int) -> None:
    """Train (or continue) one run, then evaluate its last step; the exit code tells the pool how it went."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
    config = RunConfig.from_json(config_json)
    try:
        if VARIANTS[variant][2] == "reference":
            from reference_loop import train_reference

            if snapshot_step(run_dir / SNAPSHOT_NAME) != config.train.iterations:
                print(f"{run_dir.name}: reference loop, {config.train.iterations} iterations", flush=True)
                train_reference(config, run_dir)
        else:
            from infogan.reproduce.run import train_planned
            from infogan.training.session import load_training_data

            result = train_planned(PlannedRun(run_dir.name, config), run_dir, lambda: load_training_data(config),
                                   progress=False, echo=lambda line: print(line, flush=True))
            if result is not None and result.stopped_early:
                sys.exit(3)
        kind = kind_of(variant)
        missing = [m for m in FINAL_METRICS[kind] if not _final_result(run_dir, m, config.train.iterations, kind)]
        for metric in missing:
            samples = FINAL_SAMPLES[kind].get(metric)
            infogan.evaluate_run(run_dir, [metric], **({"num_samples": samples} if samples else {}))
        if missing:
            print(f"{run_dir.name}: evaluated {', '.join(missing)}", flush=True)
    except InfoGANError as exc:
        print(f"{run_dir.name}: error: {exc}", file=sys.stderr, flush=True)
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_DONE)


def _final_result(run_dir: Path, metric: str, step: int, kind: str = "mnist") -> dict | None:
    """The metric's final-protocol result at ``step`` in the run folder, if one was written (10,000 samples,
    or the study's reduced count for the metric)."""
    samples = FINAL_SAMPLES[kind].get(metric)
    for path in sorted(run_dir.glob("metric-*.jsonl")):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            full = "_n" not in record.get("protocol", "")
            if record.get("metric") == metric and record.get("step") == step and (
                    full if samples is None else f"_n{samples}" in record["protocol"]):
                return record
    return None


SUMMARY_KEYS = {
    "mnist": {"accuracy": ("code_acc", "accuracy"), "fid": ("fid", "fid"), "fid_floor": ("fid", "floor"),
              "kid": ("kid", "kid"), "precision": ("prd", "precision"), "recall": ("prd", "recall"),
              "purity": ("purity", "purity"), "purity_nmi": ("purity", "nmi"),
              "digits_covered": ("purity", "digits_covered")},
    "dsprites": {"shape_score": ("shape", "score"), "shape_relative": ("shape", "relative_to_real"),
                 "mig": ("mig", "score"), "factorvae": ("factorvae", "score")},
}


def summarise(outdir: Path, variants: list[str], seeds: list[int], iterations: int) -> dict:
    """Per variant and seed, the final metrics; per variant, mean/sd/min/max over seeds."""
    out: dict = {}
    for variant in variants:
        kind = kind_of(variant)
        keys = SUMMARY_KEYS[kind]
        rows = {}
        for seed in seeds:
            run_dir = outdir / f"{variant}-seed{seed}"
            results = {m: _final_result(run_dir, m, iterations, kind) for m in FINAL_METRICS[kind]}
            if all(results.values()):
                rows[seed] = {k: results[m][f] for k, (m, f) in keys.items()}
        stats = {}
        for key in keys:
            values = [r[key] for r in rows.values()]
            if values:
                stats[key] = {"mean": statistics.fmean(values), "sd": statistics.stdev(values) if len(values) > 1
                              else 0.0, "min": min(values), "max": max(values), "median": statistics.median(values)}
        out[variant] = {"preset": VARIANTS[variant][0], "overrides": VARIANTS[variant][1],
                        "path": VARIANTS[variant][2], "per_seed": rows, "summary": stats}
    return out


def compare(summary: dict, pairs: list[tuple[str, str]]) -> list[dict]:
    """For each pair (a, b) and each summary key: the difference of the means over seeds (a - b), Welch's t-test
    and the Mann-Whitney U test (two-sided). A side may pool variants, "v1+v2": their runs together. With a few
    seeds per variant these say whether a difference is beyond seed noise; they do not pair seeds (a seed of
    two variants is not the same game)."""
    from scipy import stats as tests

    def runs(side: str) -> list[dict]:
        return [row for name in side.split("+") for row in summary[name]["per_seed"].values()]

    out = []
    for a, b in pairs:
        rows_a, rows_b = runs(a), runs(b)
        for key in summary[a.split("+")[0]]["summary"]:
            x, y = [r[key] for r in rows_a], [r[key] for r in rows_b]
            if len(x) < 2 or len(y) < 2 or len(set(x) | set(y)) == 1:  # e.g. the floors: one value for all
                continue
            welch = tests.ttest_ind(x, y, equal_var=False)
            rank = tests.mannwhitneyu(x, y, alternative="two-sided")
            mean_a, mean_b = statistics.fmean(x), statistics.fmean(y)
            out.append({"a": a, "b": b, "key": key, "n_a": len(x), "n_b": len(y),
                        "mean_a": mean_a, "mean_b": mean_b, "difference": mean_a - mean_b,
                        "welch_t": float(welch.statistic), "welch_p": float(welch.pvalue),
                        "mannwhitney_u": float(rank.statistic), "mannwhitney_p": float(rank.pvalue)})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default="official-b64,consistent-b64")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--outdir", type=Path, default=Path("runs/sample-quality-study"))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write the summary here")
    parser.add_argument("--summary-only", action="store_true", help="train nothing; summarise what is there")
    parser.add_argument("--compare", default="", metavar="A:B[,C:D]",
                        help="variant pairs to test against each other over seeds (Welch's t, Mann-Whitney U); "
                        "a side may pool variants: A1+A2:B")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="a config override for every variant, e.g. --set train.device=cuda (execution fields "
                        "such as the device, precision or compile mode leave the runs' results comparable)")
    args = parser.parse_args()
    variants, seeds = args.variants.split(","), [int(s) for s in args.seeds.split(",")]
    pairs = [tuple(p.split(":")) for p in args.compare.split(",") if p]
    if any(len(p) != 2 or not {v for side in p for v in side.split("+")} <= set(variants) for p in pairs):
        raise SystemExit(f"--compare takes pairs A:B of variants named in --variants (a side may pool them, "
                         f"A1+A2:B), got {args.compare!r}")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; known: {', '.join(VARIANTS)}")
    if not args.summary_only:
        tasks = []
        for seed in seeds:  # seed by seed: a partial study already compares every variant
            for variant in variants:
                cfg = apply_settings(variant_config(variant, seed, args.iterations, args.eval_every), args.set)
                run_dir = args.outdir / f"{variant}-seed{seed}"
                done = all(_final_result(run_dir, m, args.iterations, kind_of(variant))
                           for m in FINAL_METRICS[kind_of(variant)])
                if VARIANTS[variant][2] == "trainer" and not done:
                    run_status(run_dir, cfg)  # refuses a folder of another config before anything starts
                if not done:
                    tasks.append((run_dir.name, (variant, cfg.to_json(), run_dir, args.threads)))
        args.outdir.mkdir(parents=True, exist_ok=True)
        print(f"{len(tasks)} run(s) to train or evaluate, {args.jobs} at a time", flush=True)
        if not run_in_processes(tasks, _job, jobs=args.jobs, what="run"):
            raise SystemExit("stopped; run the same command again to continue")
    summary = {"iterations": args.iterations, "seeds": seeds, "cpu": _cpu(), "torch": torch.__version__,
               "variants": summarise(args.outdir, variants, seeds, args.iterations)}
    for name, v in summary["variants"].items():
        s = v["summary"]
        if s:
            print(f"{name:28s} " + "  ".join(f"{k} {s[k]['mean']:.4g} (sd {s[k]['sd']:.2g}, min {s[k]['min']:.4g})"
                                              for k in s) + f"  ({len(v['per_seed'])} seeds)")
    summary["comparisons"] = compare(summary["variants"], pairs)
    for c in summary["comparisons"]:
        print(f"{c['a']} - {c['b']} ({c['n_a']} and {c['n_b']} runs): {c['key']} {c['difference']:+.4g}, "
              f"Welch p {c['welch_p']:.3f}, Mann-Whitney p {c['mannwhitney_p']:.3f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


def _cpu() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    name = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "?")
    return f"{name}{' (avx512_bf16)' if 'avx512_bf16' in text else ''}, {os.cpu_count()} cores"


if __name__ == "__main__":
    main()
