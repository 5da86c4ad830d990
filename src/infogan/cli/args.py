"""Arguments shared by the subcommands: the parser's one-line errors, bounded numeric types for every numeric
flag, the flags that override a preset (``train``, ``reproduce``), and the config they resolve to."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from pathlib import Path

from infogan.config import RunConfig, read_config
from infogan.config.presets import PRESETS, apply_schedule, get_preset
from infogan.config.schema import (
    EVAL_SAMPLES,
    MAX_BATCH_SIZE,
    MAX_ITERATIONS,
    MAX_SEED,
    MAX_SUBSET,
)
from infogan.errors import ConfigError, InfoGANError
from infogan.latent.spec import MAX_SPAN
from infogan.latent.syntax import parse_latent
from infogan.models import check_model

DEFAULT_PRESET = "mnist"
MAX_SCALE = 16  # PNG pixel upscaling: a 64 x 64 sheet of 10 x 10 images at 16 x is 100 MB of pixels
MAX_THREADS = 1024


class UsageError(InfoGANError):
    """A command line argparse refuses (unknown flag, missing argument, a value out of its range)."""


class Parser(argparse.ArgumentParser):
    """argparse with the project's error format: one line ``infogan: error: ...``, exit status 2 (raised as
    :class:`UsageError`, which ``main`` prints); subcommand parsers are made of this class too."""

    def error(self, message: str):
        """argparse's hook for every command-line error."""
        raise UsageError(f"{message} (see '{self.prog} --help')")


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a decimal integer in ``low..high``, refused in one line otherwise."""
    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be an integer in {low}..{high:,}, got {text[:40]!r}")
        return value
    return parse


def bounded_float(low: float, high: float, *, low_open: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number in ``[low, high]`` (``(low, high]`` when ``low_open``)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or not (low < value if low_open else low <= value) or value > high:
            where = f"{'(' if low_open else '['}{low:g}, {high:g}]"
            raise argparse.ArgumentTypeError(f"must be a finite number in {where}, got {text[:40]!r}")
        return value
    return parse


SEED = bounded_int(0, MAX_SEED)
SCALE = bounded_int(1, MAX_SCALE)
THREADS = bounded_int(1, MAX_THREADS)
SPAN = bounded_float(0, MAX_SPAN, low_open=True)  # continuous codes are swept over [-span, span]


def add_config_arguments(p: argparse.ArgumentParser) -> None:
    """The flags that override a preset (shared by train and reproduce); ``args.config_flags`` maps each one's
    destination to the flag, so a command can tell which were given."""
    flags: dict[str, str] = {}

    def add(*names: str, **options) -> None:
        flags[p.add_argument(*names, **options).dest] = names[0]

    add("--preset", help=f"experiment preset: {', '.join(PRESETS)} (default {DEFAULT_PRESET})")
    add("--schedule", default=None, help="named schedule of the preset (mnist: quick [default], "
        "official = 5,000 iterations at batch 128)")
    add("--config", type=Path, help="a config.json to start from instead of a preset")
    add("--data", help="dataset: mnist, fashion-mnist, svhn, celeba, faces, chairs, dsprites, fake, "
        "imagefolder:PATH")
    add("--data-dir", help="dataset cache folder (default $INFOGAN_DATA_DIR or ~/.cache/infogan)")
    add("--subset", type=bounded_int(0, MAX_SUBSET), help="train on the first N images only")
    add("--latent", help="latent spec, e.g. 'noise62,cat10,unif2:lambda=0.1'")
    add("--iterations", type=bounded_int(1, MAX_ITERATIONS))
    add("--batch-size", type=bounded_int(1, MAX_BATCH_SIZE), help="images per update, all processes "
        "together (under torchrun each of N processes draws batch-size/N)")
    add("--lr-d", type=bounded_float(0, 1, low_open=True))
    add("--lr-g", type=bounded_float(0, 1, low_open=True))
    add("--seed", type=SEED)
    add("--tick", type=bounded_int(1, MAX_ITERATIONS), help="iterations between stats/TensorBoard/sample "
        "records")
    add("--snapshot-every", type=bounded_int(1, MAX_ITERATIONS))
    add("--precision", choices=["auto", "fp32", "bf16"])
    add("--compile", action="store_true", default=None, help="torch.compile G and D")
    add("--device", help="auto, cpu, cuda, cuda:N")
    add("--deterministic", action="store_true", default=None)
    add("--nan-policy", choices=["stop", "rollback"], help="on a non-finite loss/gradient: stop "
        "(default), or roll back to the last state with halved learning rates (at most 3 times)")
    add("--no-sync-bn", dest="sync_batchnorm", action="store_false", default=None,
        help="under torchrun: batch norm uses each process's own statistics (default: synchronised)")
    add("--baseline", action="store_true", help="GAN with Q attached: G not rewarded for MI")
    add("--consistency", type=bounded_float(0, 1000), help="weight of the categorical information loss on randomly "
        "rotated/zoomed/shifted G(z, c) (0 = off, the paper; preset mnist-consistent: 1)")
    add("--g-latent", choices=["shared", "fresh"], help="G's step reuses the D step's z, c and "
        "G(z, c) (shared, the default) or draws new ones (fresh, the official code)")
    add("--eval-every", type=bounded_int(0, MAX_ITERATIONS), help="iterations between evaluations during training "
        "(a curve in the metric files; default FID and code accuracy on MNIST, shape score on dSprites; 0 = none)")
    add("--eval-samples", type=bounded_int(*EVAL_SAMPLES), help="samples per evaluation during training "
        "(default 2000)")
    add("--eval-metrics", help="comma-separated metrics of those evaluations")
    add("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
        help="set any config field, e.g. --set optim.g_steps=2 --set train.sampling=epoch (VALUE is "
        "read as JSON, else as a string; repeatable)")
    p.set_defaults(config_flags=flags)


def given_config_flags(args: argparse.Namespace, *, allowed: tuple[str, ...] = ()) -> list[str]:
    """The flags of :func:`add_config_arguments` given on this command line, apart from ``allowed`` (dests)."""
    return [flag for dest, flag in args.config_flags.items()
            if dest not in allowed and getattr(args, dest) not in (None, False, [])]


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """Preset (or --config file) plus the command-line overrides -> RunConfig, checked against the
    architecture (image sides, at least one code) so that even ``--dry-run`` refuses what cannot train."""
    if args.config:
        cfg = read_config(args.config, what="--config")
    else:
        cfg = get_preset(args.preset or DEFAULT_PRESET)
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
    model = {"latent": parse_latent(args.latent)} if args.latent is not None else {}  # '' is refused
    cfg = cfg.replace(train=train, optim=optim, data=data, model=model)
    cfg = apply_settings(cfg, args.set)
    if args.eval_every is not None:
        cfg = cfg.replace(train={"eval_every": args.eval_every})
    if args.tick is not None and args.snapshot_every is None:  # the snapshot interval follows the tick
        cfg = cfg.with_tick(args.tick)
    elif args.tick is None and cfg.train.tick > cfg.train.iterations:  # a run shorter than a tick: one tick
        cfg = cfg.with_tick(cfg.train.tick)
    cfg = cfg.as_baseline() if args.baseline else cfg
    check_model(cfg.model)
    return cfg


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
