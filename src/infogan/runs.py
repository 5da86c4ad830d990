"""Run folders: numbered, never overwritten (``runs/00007-mnist-seed0/``), and the files inside them."""

from __future__ import annotations

import os
import re
from pathlib import Path

from infogan.config import RunConfig
from infogan.errors import ConfigError, TrainingError
from infogan.io import atomic_write_text

CONFIG_NAME = "config.json"
STATS_NAME = "stats.jsonl"
_NUMBERED = re.compile(r"^(\d{5})-")


def create_run_dir(outdir: str | os.PathLike, config: RunConfig, *, desc: str | None = None) -> Path:
    """Create the next numbered run folder under ``outdir`` and write ``config.json`` into it.

    Args:
        outdir: parent folder (created if needed).
        config: the run config, written before step 0.
        desc: name suffix; default ``<preset>-seed<seed>``.
    Returns:
        The new folder. Existing folders are never reused: a clash (two processes starting at once)
        takes the next number.
    """
    outdir = Path(outdir)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TrainingError(f"cannot create the output folder {outdir}: {exc.strerror}. "
                            "Pass --outdir with a writable folder.") from None
    if not os.access(outdir, os.W_OK):
        raise TrainingError(f"the output folder {outdir} is not writable; pass --outdir with a writable folder")
    desc = desc or f"{config.preset}-seed{config.train.seed}"
    if not re.fullmatch(r"[A-Za-z0-9._+-]+", desc):
        raise ConfigError(f"run name {desc!r} may only use letters, digits and . _ + -")
    for _ in range(1000):
        numbers = [int(m.group(1)) for p in outdir.iterdir() if (m := _NUMBERED.match(p.name))]
        run_dir = outdir / f"{max(numbers, default=-1) + 1:05d}-{desc}"
        try:
            run_dir.mkdir()
        except FileExistsError:
            continue
        atomic_write_text(run_dir / CONFIG_NAME, config.to_json())
        return run_dir
    raise TrainingError(f"could not create a new run folder in {outdir}")


def read_run_config(run_dir: str | os.PathLike) -> RunConfig:
    """The config.json of a run folder."""
    path = Path(run_dir) / CONFIG_NAME
    if not path.exists():
        raise ConfigError(f"{run_dir} is not a run folder (no {CONFIG_NAME}); give a folder made by "
                          "'infogan train'")
    return RunConfig.from_json(path.read_text(encoding="utf-8"))
