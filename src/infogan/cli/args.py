"""Arguments shared by the subcommands: the flags that override a preset (``train``, ``reproduce``), and the
config they resolve to."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from infogan.config import RunConfig
from infogan.config.presets import PRESETS, apply_schedule, get_preset
from infogan.errors import ConfigError, InfoGANError
from infogan.latent.syntax import parse_latent


def add_config_arguments(p: argparse.ArgumentParser) -> None:
    """The flags that override a preset (shared by train and reproduce)."""
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
    p.add_argument("--g-latent", choices=["shared", "fresh"], help="G's step reuses the D step's z, c and "
                   "G(z, c) (shared, the default) or draws new ones (fresh, the official code)")
    p.add_argument("--eval-every", type=int, help="iterations between evaluations during training (a curve in "
                   "the metric files; default FID and code accuracy on MNIST, shape score on dSprites; 0 = none)")
    p.add_argument("--eval-samples", type=int, help="samples per evaluation during training (default 2000)")
    p.add_argument("--eval-metrics", help="comma-separated metrics of those evaluations")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                   help="set any config field, e.g. --set optim.g_steps=2 --set train.sampling=epoch (VALUE is "
                   "read as JSON, else as a string; repeatable)")


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """Preset (or --config file) plus the command-line overrides -> RunConfig."""
    if args.config:
        try:
            cfg = RunConfig.from_json(Path(args.config).read_text())
        except OSError as exc:
            raise InfoGANError(f"cannot read --config {args.config}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"--config {args.config} is not a UTF-8 JSON file") from None
    else:
        cfg = get_preset(args.preset)
    if args.schedule or not args.config:  # a config file keeps its own schedule unless told otherwise
        cfg = apply_schedule(cfg, args.schedule)
    train = {k: getattr(args, k) for k in ("iterations", "batch_size", "seed", "precision", "compile", "device",
                                           "deterministic", "nan_policy", "sync_batchnorm", "eval_samples",
                                           "eval_metrics") if getattr(args, k) is not None}
    if args.snapshot_every is not None:  # with its tick (or the preset's), validated together
        train.update(snapshot_every=args.snapshot_every, tick=args.tick if args.tick is not None else cfg.train.tick)
    optim = {k: v for k, v in (("lr_d", args.lr_d), ("lr_g", args.lr_g), ("consistency", args.consistency),
                               ("g_latent", args.g_latent)) if v is not None}
    data = {k: v for k, v in (("dataset", args.data), ("data_dir", args.data_dir), ("subset", args.subset))
            if v is not None}
    model = {"latent": parse_latent(args.latent)} if args.latent else {}
    cfg = cfg.replace(train=train, optim=optim, data=data, model=model)
    cfg = apply_settings(cfg, args.set)
    if args.eval_every is not None:
        cfg = cfg.replace(train={"eval_every": args.eval_every})
    if args.tick is not None and args.snapshot_every is None:  # the snapshot interval follows the tick
        cfg = cfg.with_tick(args.tick)
    elif args.tick is None and cfg.train.tick > cfg.train.iterations:  # a run shorter than a tick: one tick
        cfg = cfg.with_tick(cfg.train.tick)
    return cfg.as_baseline() if args.baseline else cfg


SECTIONS = ("model", "optim", "train", "data")


def apply_settings(cfg: RunConfig, settings: list[str]) -> RunConfig:
    """``--set section.field=value`` overrides, validated by the config classes.

    Raises:
        ConfigError: a malformed item, an unknown section or field, or a value the field refuses.
    """
    for item in settings:
        key, sep, raw = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot or section not in SECTIONS or not name:
            raise ConfigError(f"--set {item!r}: write SECTION.FIELD=VALUE with SECTION one of "
                              f"{', '.join(SECTIONS)}, e.g. --set optim.g_steps=2")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        if section == "model" and name == "latent" and isinstance(value, str):
            value = parse_latent(value)
        cfg = cfg.replace(**{section: {name: value}})
    return cfg
