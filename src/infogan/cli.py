"""The ``infogan`` command line: parse, build a config, call the library.

Subcommands: train, eval, sample, traverse (here) and those of the modules in ``EXTRA_COMMANDS``, each of
which exposes ``add_parser(subparsers)`` registering a parser whose ``func(args)`` does the work.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from infogan.errors import InfoGANError

EXTRA_COMMANDS: list[str] = ["infogan.reproduce", "infogan.report.build", "infogan.web.server", "infogan.encoding",
                             "infogan.export"]


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; user errors print one line and exit 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except InfoGANError as exc:
        print(f"infogan: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("infogan: interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="infogan", description="InfoGAN (Chen et al. 2016) in PyTorch.")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    _add_train(sub)
    _add_eval(sub)
    _add_sample(sub)
    _add_traverse(sub)
    for module in EXTRA_COMMANDS:
        importlib.import_module(module).add_parser(sub)
    return parser


# ----- train -------------------------------------------------------------------------------------------
def add_config_arguments(p: argparse.ArgumentParser) -> None:
    """The flags that override a preset (shared by train and reproduce)."""
    from infogan.presets import PRESETS

    p.add_argument("--preset", default="mnist", help=f"experiment preset: {', '.join(PRESETS)}")
    p.add_argument("--schedule", default=None, help="named schedule of the preset (mnist: quick [default], "
                   "official = 5,000 iterations at batch 128)")
    p.add_argument("--config", type=Path, help="a config.json to start from instead of a preset")
    p.add_argument("--data", help="dataset: mnist, fashion-mnist, svhn, celeba, faces, chairs, dsprites, fake, "
                   "imagefolder:PATH")
    p.add_argument("--data-dir", help="dataset cache folder (default $INFOGAN_DATA_DIR or ~/.cache/infogan)")
    p.add_argument("--subset", type=int, help="train on the first N images only")
    p.add_argument("--latent", help="latent spec, e.g. 'noise62,cat10,unif2:lambda=0.1'")
    p.add_argument("--iterations", type=int)
    p.add_argument("--batch-size", type=int, help="images per update, all processes together (under torchrun "
                   "each of N processes draws batch-size/N)")
    p.add_argument("--lr-d", type=float)
    p.add_argument("--lr-g", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--tick", type=int, help="iterations between stats/TensorBoard/sample records")
    p.add_argument("--snapshot-every", type=int)
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"])
    p.add_argument("--compile", action="store_true", default=None, help="torch.compile G and D")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--deterministic", action="store_true", default=None)
    p.add_argument("--nan-policy", choices=["stop", "rollback"], help="on a non-finite loss/gradient: stop "
                   "(default), or roll back to the last state with halved learning rates (at most 3 times)")
    p.add_argument("--no-sync-bn", dest="sync_batchnorm", action="store_false", default=None,
                   help="under torchrun: batch norm uses each process's own statistics (default: synchronised)")
    p.add_argument("--baseline", action="store_true", help="GAN with Q attached: G not rewarded for MI")
    p.add_argument("--consistency", type=float, help="weight of the categorical information loss on randomly "
                   "rotated/zoomed/shifted G(z, c) (0 = off, the paper; preset mnist-consistent: 1)")


def config_from_args(args: argparse.Namespace):
    """Preset (or --config file) plus the command-line overrides -> RunConfig."""
    from infogan.latent_syntax import parse_latent
    from infogan.config import RunConfig
    from infogan.presets import apply_schedule, get_preset

    if args.config:
        try:
            cfg = RunConfig.from_json(Path(args.config).read_text())
        except OSError as exc:
            raise InfoGANError(f"cannot read --config {args.config}: {exc.strerror}") from None
        except UnicodeDecodeError:
            from infogan.errors import ConfigError

            raise ConfigError(f"--config {args.config} is not a UTF-8 JSON file") from None
    else:
        cfg = get_preset(args.preset)
    if args.schedule or not args.config:  # a config file keeps its own schedule unless told otherwise
        cfg = apply_schedule(cfg, args.schedule)
    train = {k: getattr(args, a) for k, a in [("iterations", "iterations"), ("batch_size", "batch_size"),
                                              ("seed", "seed"), ("tick", "tick"),
                                              ("snapshot_every", "snapshot_every"), ("precision", "precision"),
                                              ("compile", "compile"), ("device", "device"),
                                              ("deterministic", "deterministic"), ("nan_policy", "nan_policy"),
                                              ("sync_batchnorm", "sync_batchnorm")] if getattr(args, a) is not None}
    if "tick" in train and "snapshot_every" not in train and cfg.train.snapshot_every % train["tick"]:
        train["snapshot_every"] = train["tick"] * max(1, cfg.train.snapshot_every // train["tick"])
    if "iterations" in train and "tick" not in train and cfg.train.tick > train["iterations"]:
        train["tick"] = train["iterations"]
        train["snapshot_every"] = train["iterations"]
    optim = {k: v for k, v in (("lr_d", args.lr_d), ("lr_g", args.lr_g), ("consistency", args.consistency))
             if v is not None}
    if args.baseline:
        optim["info_to_g"] = False
    data = {k: v for k, v in (("dataset", args.data), ("data_dir", args.data_dir), ("subset", args.subset))
            if v is not None}
    model = {"latent": parse_latent(args.latent)} if args.latent else {}
    preset = cfg.preset + ("-baseline" if args.baseline else "")
    return cfg.replace(preset=preset, train=train, optim=optim, data=data, model=model)


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train a model (a new numbered run folder, or --resume RUN)")
    add_config_arguments(p)
    p.add_argument("--outdir", default="runs", help="parent of the numbered run folders (default ./runs)")
    p.add_argument("--name", help="run folder suffix (default <preset>-seed<seed>)")
    p.add_argument("--resume", type=Path, metavar="RUN", help="continue this run folder from its last state")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    p.add_argument("--no-eval", action="store_true", help="skip the final evaluation and traversal sheets")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--dist-backend", choices=["auto", "gloo", "nccl"], default="auto",
                   help="under torchrun: process-group backend (auto = NCCL on GPUs, gloo on CPUs)")
    p.set_defaults(func=_train)


def _train(args) -> int:
    from infogan.api import finish_run, train
    from infogan.distributed import is_main_process

    if args.resume:
        result = train(resume=args.resume, progress=not args.no_progress,
                       iterations=args.iterations, dist_backend=args.dist_backend)
    else:
        cfg = config_from_args(args)
        if args.dry_run:
            print(cfg.to_json())
            return 0
        result = train(cfg, outdir=args.outdir, name=args.name, progress=not args.no_progress,
                       dist_backend=args.dist_backend)
    if not is_main_process():  # under torchrun, rank 0 alone reports, evaluates and writes sheets
        return 0
    print(f"run folder: {result.run_dir} (step {result.step})")
    if result.stopped_early:
        print(f"stopped at step {result.step}; continue with: infogan train --resume {result.run_dir}")
        return 0
    if not args.no_eval:
        finish_run(result.run_dir, echo=print)
    return 0


# ----- eval / sample / traverse ------------------------------------------------------------------------
def _add_eval(sub) -> None:
    p = sub.add_parser("eval", help="evaluate a run: code accuracy on the test split, L_I per code, ...")
    p.add_argument("run", type=Path, help="run folder or snapshot file")
    p.add_argument("--metrics", help="comma-separated metric names (default: all that apply)")
    p.add_argument("--data", help="evaluation dataset (default: the run's dataset)")
    p.add_argument("--data-dir")
    p.add_argument("--samples", type=int, help="sample count for sampling-based metrics (names the protocol)")
    p.add_argument("--features", choices=("mnistnet", "inception"),
                   help="feature space of fid/kid/prd (default: the digit network on MNIST, Inception elsewhere)")
    p.add_argument("--inception-weights", help="torch-fidelity's Inception-v3 weights file, for --features inception")
    p.add_argument("--list", action="store_true", help="list metrics and the datasets they apply to")
    p.add_argument("--json", action="store_true", help="print results as JSON")
    p.set_defaults(func=_eval)


def _eval(args) -> int:
    from infogan.api import evaluate_run
    from infogan.metrics import METRICS

    if args.list:
        for m in METRICS.values():
            print(f"{m.name:10s} datasets: {', '.join(m.applies_to):32s} {m.description}")
        return 0
    names = args.metrics.split(",") if args.metrics else None
    options = {"num_samples": args.samples} if args.samples else {}
    options.update({k: v for k, v in (("features", args.features), ("inception_weights", args.inception_weights)) if v})
    results = evaluate_run(args.run, names, dataset=args.data, data_dir=args.data_dir, **options)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        from infogan.api import format_results

        print(format_results(results))
    return 0


def _add_sample(sub) -> None:
    p = sub.add_parser("sample", help="write a PNG grid of samples (rows = categories of the first code)")
    p.add_argument("run", type=Path)
    p.add_argument("--out", type=Path, help="output PNG (default RUN/samples/sample-seed<seed>.png)")
    p.add_argument("--n", type=int, default=100, help="number of images (default 100)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scale", type=int, default=2, help="pixel upscaling of the PNG")
    p.set_defaults(func=_sample)


def _sample(args) -> int:
    from infogan.api import write_samples

    print(write_samples(args.run, out=args.out, n=args.n, seed=args.seed, scale=args.scale))
    return 0


def _add_traverse(sub) -> None:
    p = sub.add_parser("traverse", help="write the paper's Figure 2 traversal sheet of every code")
    p.add_argument("run", type=Path)
    p.add_argument("--outdir", type=Path, help="folder (default RUN/traversals)")
    p.add_argument("--codes", help="comma-separated code names (c1,c2,...; default all)")
    p.add_argument("--span", type=float, default=2.0, help="continuous codes sweep [-span, span] (default 2)")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scale", type=int, default=2)
    p.set_defaults(func=_traverse)


def _traverse(args) -> int:
    from infogan.api import write_traversals

    codes = args.codes.split(",") if args.codes else None
    for path in write_traversals(args.run, outdir=args.outdir, codes=codes, span=args.span, steps=args.steps,
                                 seed=args.seed, scale=args.scale):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
