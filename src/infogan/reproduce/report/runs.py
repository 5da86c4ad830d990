"""Run folders as the report sees them: config, stats, snapshot step, machine, and cached metric results.

A run is a baseline (the paper's Figure 1 GAN with Q attached) when its config says so
(``RunConfig.is_baseline``: ``optim.info_to_g`` is false). Metric results come from the run's
``metric-<protocol>.jsonl`` files; a result missing for the snapshot's step is computed once and appended there, so building the
report again reuses it.
"""

from __future__ import annotations

import json
import os
import platform
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from infogan.config import RunConfig
from infogan.errors import ConfigError
from infogan.storage import read_jsonl, read_regular
from infogan.training.rundir import CONFIG_NAME, STATS_NAME, read_run_config

MACHINE_NAME = "machine.json"
MAX_MACHINE_BYTES = 16 << 20  # a few hundred bytes per training session


@dataclass
class RunRecord:
    """What the report reads from one run folder.

    Attributes:
        path: the run folder.
        config: its config.json.
        stats: the stats.jsonl records (one per tick).
        machine: training sessions from machine.json (empty when the run was not made by ``reproduce``).
    """

    path: Path
    config: RunConfig
    stats: list[dict] = field(default_factory=list)
    machine: list[dict] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def baseline(self) -> bool:
        return self.config.is_baseline

    @property
    def seed(self) -> int:
        return self.config.train.seed

    @property
    def label(self) -> str:
        return "GAN baseline" if self.baseline else "InfoGAN"

    @property
    def wall_s(self) -> float | None:
        """Training time (seconds, evaluation excluded) at the last tick."""
        return self.stats[-1].get("time_s") if self.stats else None

    def metric_records(self) -> dict[str, list[dict]]:
        """Every record of the run's metric files, {protocol: records in file order} (the curves of
        ``--eval-every`` and the evaluations of its snapshots alike)."""
        return {path.stem[len("metric-"):]: read_jsonl(path) for path in sorted(self.path.glob("metric-*.jsonl"))}


def find_runs(paths: Sequence[str | os.PathLike]) -> list[RunRecord]:
    """Read run folders; a folder without config.json that holds run folders (a reproduction) is expanded.

    Raises:
        ConfigError: a path is neither a run folder nor a folder of run folders.
    """
    runs: list[RunRecord] = []
    for p in map(Path, paths):
        if (p / CONFIG_NAME).is_file():
            folders = [p]
        else:
            folders = sorted(q for q in p.iterdir() if (q / CONFIG_NAME).is_file()) if p.is_dir() else []
            if not folders:
                raise ConfigError(f"{p} is not a run folder (no {CONFIG_NAME}) and holds none; give folders "
                                  "made by 'infogan train' or 'infogan reproduce'")
        for folder in folders:
            runs.append(RunRecord(folder, read_run_config(folder), read_jsonl(folder / STATS_NAME),
                                  read_sessions(folder)))
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ConfigError(f"run folder name(s) {dup} given twice; the report names runs by folder, so pass "
                          "each run once")
    return runs


def read_sessions(run_dir: Path) -> list[dict]:
    """The training sessions in a run's machine.json (a regular file, not a link; none when it is missing or
    not the list infogan writes)."""
    path = Path(run_dir) / MACHINE_NAME
    if not os.path.lexists(path):
        return []
    try:
        sessions = json.loads(read_regular(path, limit=MAX_MACHINE_BYTES, follow=False, what="machine.json"))["sessions"]
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return []
    return [s for s in sessions if isinstance(s, dict)] if isinstance(sessions, list) else []


def cached_metric(run_dir: Path, model, name: str, protocol: str, **options) -> dict:
    """The last ``metric-<protocol>.jsonl`` record of ``run_dir`` at the model's step; computed (and
    appended) with :func:`infogan.metrics.evaluate` when there is none.

    Args:
        run_dir: the run folder.
        model: its loaded snapshot (``model.step`` is the step the record must match).
        name: the metric name in :data:`infogan.metrics.METRICS`.
        protocol: the protocol the record must carry (the file name).
        options: passed to the metric (e.g. ``num_samples``).
    Returns:
        The record, as stored in the file.
    """
    from infogan.metrics import evaluate

    def ours(p: str) -> bool:  # the protocol itself, or it with a qualifier (KID's shrunk "_subset<n>")
        return p == protocol or p.startswith(protocol + "_subset")

    kept = [r for path in sorted(run_dir.glob(f"metric-{protocol}*.jsonl")) if ours(path.stem[len("metric-"):])
            for r in read_jsonl(path) if r.get("step") == model.step and r.get("metric", name) == name]
    if kept:
        return kept[-1]
    results = evaluate(model, [name], run_dir=run_dir, **options)
    found = [p for p in results if ours(p)]
    if not found:
        raise ConfigError(f"metric {name!r} wrote protocol {sorted(results)} instead of {protocol!r}")
    return results[found[0]]


def machine_info() -> dict:
    """The machine running this process: CPU, cores, accelerator, library versions."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="ignore")
        if m := re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE):
            cpu = m.group(1).strip()
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "gpu": gpu,
            "torch": torch.__version__, "python": platform.python_version(), "system": platform.platform()}


def describe_machine(info: dict) -> str:
    """One line for a :func:`machine_info` dict."""
    device = f"GPU {info['gpu']}" if info.get("gpu") else "no GPU"
    return (f"{info.get('cpu', '?')} ({info.get('cores', '?')} cores, {info.get('torch_threads', '?')} torch "
            f"threads), {device}, torch {info.get('torch', '?')}, Python {info.get('python', '?')}")
