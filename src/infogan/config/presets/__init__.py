"""Presets: one per paper experiment, as data, in one registry. Each value carries its source.

``get_preset(name)`` returns the preset's :class:`RunConfig`, whose ``train`` is the preset's default
schedule; ``apply_schedule(cfg, name)`` switches to another named schedule of :data:`SCHEDULES`. The CLI
does the same (``infogan train --preset P [--schedule S]``), so the library and the command line train the
same thing. The modules :mod:`~.mnist`, :mod:`~.paper` and :mod:`~.dsprites` define the presets; this
module only collects them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from infogan.config.presets import dsprites, mnist, paper
from infogan.config.schema import RunConfig, TrainConfig
from infogan.errors import ConfigError

PRESETS: dict[str, Callable[[], RunConfig]] = {**mnist.PRESETS, **dsprites.PRESETS, **paper.PRESETS}
# Named schedules per preset; the first one is the preset's own ``train`` (its default).
SCHEDULES: dict[str, dict[str, TrainConfig]] = {**mnist.SCHEDULES, **dsprites.SCHEDULES}
SCHEDULE_FIELDS = ("iterations", "batch_size", "tick", "snapshot_every")  # what a schedule sets
# Training times measured for a preset's default schedule (docs/performance.md and the reports they cite).
MEASURED: dict[str, list[str]] = {
    "mnist": ["about 15 min on a 2-core AVX512-BF16 EPYC, bf16 (docs/results/mnist/report.md)"],
    "mnist-consistent": ["28 min on a 2-core AVX2 EPYC, fp32; 7.4 min on one AVX512-BF16 core, bf16 "
                         "(docs/performance.md)"],
    "dsprites": ["not run to the end; 60,000 iterations took 85 min on one AVX512-BF16 core "
                 "(docs/results/dsprites/README.md)"],
}


def register_preset(name: str, factory: Callable[[], RunConfig],
                    schedules: dict[str, TrainConfig] | None = None) -> None:
    """Add a preset (and its named schedules, the first being the factory's own ``train``)."""
    PRESETS[name] = factory
    if schedules:
        SCHEDULES[name] = dict(schedules)


def get_preset(name: str) -> RunConfig:
    """The preset's config, with its default schedule; unknown names raise a ConfigError listing the known ones."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; known presets: {', '.join(sorted(PRESETS))}")
    return PRESETS[name]()


def schedule_names(preset: str) -> list[str]:
    """The named schedules of a preset (a ``-baseline`` suffix is ignored), default first."""
    return list(SCHEDULES.get(preset.removesuffix("-baseline"), {}))


def apply_schedule(cfg: RunConfig, schedule: str | None) -> RunConfig:
    """``cfg`` with the named schedule of ``cfg.preset`` (None: unchanged, i.e. the preset's default).

    Only the schedule's fields (iterations, batch size, tick, snapshot interval) change; seed, precision and
    the other execution fields are kept.
    """
    if schedule is None:
        return cfg
    base = cfg.preset.removesuffix("-baseline")
    options = SCHEDULES.get(base, {})
    if schedule not in options:
        known = ", ".join(options) or "none (use --iterations and --batch-size)"
        raise ConfigError(f"preset {base!r} has no schedule {schedule!r}; schedules: {known}")
    chosen = dataclasses.asdict(options[schedule])
    return cfg.replace(train={k: chosen[k] for k in SCHEDULE_FIELDS})
