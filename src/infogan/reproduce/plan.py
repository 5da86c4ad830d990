"""What a reproduction trains: the planned runs (an InfoGAN run and its Figure 1 baseline per seed, at fixed
folder names) and where each stands in its folder.

A folder made with a different config is never overwritten: :func:`check_folder` refuses it, naming the
differences (execution-only fields such as the device or precision may change between sessions).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from infogan.config import EXECUTION_FIELDS, RunConfig, config_differences
from infogan.errors import ConfigError
from infogan.training import state as resume_state
from infogan.training.rundir import CONFIG_NAME, read_run_config

EXPERIMENTS = ("mnist",)  # experiments with a reproduction recipe (Figure 1, Figure 2, the 5% claim)
DEFAULT_TICK = 20  # stats every 20 iterations: Figure 1 resolves the first few hundred iterations
DEFAULT_BASELINE_ITERATIONS = 1000  # Figure 1's horizon; the baseline is only needed that far
__all__ = ["EXECUTION_FIELDS", "PlannedRun", "check_folder", "config_differences", "plan", "run_status"]


@dataclass(frozen=True)
class PlannedRun:
    """One run of a reproduction: its folder name and config."""

    name: str
    config: RunConfig

    @property
    def baseline(self) -> bool:
        return self.config.is_baseline


def plan(config: RunConfig, *, seeds: int = 5, first_seed: int = 0,
         baseline_iterations: int = DEFAULT_BASELINE_ITERATIONS) -> list[PlannedRun]:
    """The runs of a reproduction: for each seed the InfoGAN run, then its baseline (when asked for).

    Args:
        config: the InfoGAN config (preset, schedule, tick); its seed is replaced.
        seeds: number of seeds.
        first_seed: seeds are first_seed, first_seed + 1, ...
        baseline_iterations: iterations of each baseline (0: no baselines).
    Returns:
        The planned runs in training order.
    """
    if seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {seeds}")
    if baseline_iterations < 0:
        raise ConfigError(f"--baseline-iterations must be >= 0 (0 = no baselines), got {baseline_iterations}")
    if config.is_baseline:
        raise ConfigError("the reproduction trains its own baselines; start it from an InfoGAN config "
                          "(drop --baseline)")
    preset = config.preset
    runs = []
    for seed in range(first_seed, first_seed + seeds):
        runs.append(PlannedRun(f"{preset}-seed{seed}", config.replace(train={"seed": seed})))
        if baseline_iterations:
            base = config.as_baseline().replace(train={"seed": seed, "iterations": baseline_iterations})
            runs.append(PlannedRun(f"{preset}-baseline-seed{seed}", base.with_tick(base.train.tick)))
    return runs


def run_status(run_dir: Path, config: RunConfig) -> tuple[str, int]:
    """Where a planned run stands: ("new" | "restart" | "resume" | "finished", step).

    Raises:
        ConfigError: the folder holds a run with a different config (it is never overwritten).
    """
    if not check_folder(run_dir, config):
        return "new", 0
    if not (run_dir / resume_state.STATE_NAME).exists():
        return "restart", 0
    step = resume_state.load_state(run_dir / resume_state.STATE_NAME).step
    return ("finished" if step >= config.train.iterations else "resume"), step


def check_folder(run_dir: Path, config: RunConfig) -> bool:
    """False when ``run_dir`` does not exist; True when it holds a run of ``config``.

    Raises:
        ConfigError: the folder is not a run folder, or its run has a different config.
    """
    if not run_dir.exists():
        return False
    if not (run_dir / CONFIG_NAME).is_file():
        raise ConfigError(f"{run_dir} exists but is not a run folder; move it away or choose another --outdir")
    stored = read_run_config(run_dir)
    diff = config_differences(stored, config)
    if diff:
        raise ConfigError(f"{run_dir} was trained with a different config ({'; '.join(diff[:4])}); use the "
                          "same flags to continue it, or another --outdir for a new reproduction")
    return True

