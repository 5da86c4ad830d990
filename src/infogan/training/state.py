"""The resume state ``state.pt``: everything a run needs to continue bit for bit, as a dataclass.

It holds the weights, both optimiser states, the step, the training time and every random stream of
every process, and only tensors and plain containers: it is read with ``torch.load(weights_only=True)``,
so a pickle that would run code is refused. Each save keeps the state it replaces as ``state.prev.pt``;
a resume takes the newest readable one (:func:`latest_state`).

The trainer writes the snapshot (:mod:`infogan.snapshot`) first and the state second, so after a crash
between the two the snapshot may be one save ahead of the state: the state carries its own weights, so
resuming from it is consistent, and the steps in between are trained again.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from infogan.config import RESUME_FIELDS, RunConfig, config_differences
from infogan.config.schema import MAX_ITERATIONS
from infogan.errors import CheckpointError, InfoGANError, TrainingError
from infogan.storage import atomic_write, atomic_write_text, open_regular, read_jsonl
from infogan.training.guard import MAX_ROLLBACKS
from infogan.training.rundir import CONFIG_NAME, STATS_NAME, read_run_config

STATE_NAME = "state.pt"
PREVIOUS_STATE_NAME = "state.prev.pt"  # the state before the newest one, kept as a fallback
REQUIRED = ("step", "config", "model", "opt_d", "opt_g", "rng")  # keys every state file has


@dataclass
class ResumeState:
    """One resume state, as written to and read from ``state.pt``.

    Attributes:
        step: iterations done.
        config: the run config as JSON (the run it belongs to).
        model: G, D and Q weights and buffers, by state-dict name.
        opt_d, opt_g: the two optimisers' ``state_dict()``.
        rng: this process's random streams ({"latent", "data", "torch"} generator states).
        elapsed: training seconds so far.
        rng_ranks: every process's streams, in rank order (one entry on a single process).
        world_size: processes the run was trained with.
        rollbacks: ``nan_policy="rollback"`` returns so far (each halved the learning rates).
        sampler: the epoch order and position of ``sampling="epoch"`` (empty otherwise).
    """

    step: int
    config: str
    model: dict[str, torch.Tensor]
    opt_d: dict
    opt_g: dict
    rng: dict
    elapsed: float = 0.0
    rng_ranks: list[dict] = field(default_factory=list)
    world_size: int = 1
    rollbacks: int = 0
    sampler: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The plain dict written by ``torch.save`` (tensors and containers only)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "resume state") -> "ResumeState":
        """Check the structure of a loaded state and wrap it.

        Raises:
            CheckpointError: not shaped like an infogan resume state (names what is wrong).
        """
        problem = _state_problem(data)
        if problem:
            raise CheckpointError(f"{source} is not an infogan resume state ({problem}); it was refused")
        known = {f.name for f in dataclasses.fields(cls)}
        state = cls(**{k: v for k, v in data.items() if k in known})
        if not state.rng_ranks:
            state.rng_ranks = [state.rng]
        return state

    def run_config(self) -> RunConfig:
        """The run config stored in the state."""
        return RunConfig.from_json(self.config)


def _state_problem(state: Any) -> str | None:
    """What is wrong with the structure of a loaded state, or None."""
    if not isinstance(state, dict):
        return f"a {type(state).__name__}, not a dict"
    missing = [k for k in REQUIRED if k not in state]
    if missing:
        return f"missing {missing}"
    if isinstance(state["step"], bool) or not isinstance(state["step"], int) or state["step"] < 0:
        return f"step {state['step']!r} is not an integer >= 0"
    if state["step"] > MAX_ITERATIONS:
        return f"step {state['step']!r} is more than {MAX_ITERATIONS:,}"
    if not isinstance(state["config"], str):
        return "config is not a JSON string"
    model = state["model"]
    if not isinstance(model, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in model.items()):
        return "model is not a dict of named tensors"
    for key in ("opt_d", "opt_g", "rng"):
        if not isinstance(state[key], dict):
            return f"{key} is not a dict"
    return _field_problem(state)


def _field_problem(state: dict) -> str | None:
    """What is wrong with the optional fields and the optimiser tensors of a loaded state, or None."""
    elapsed, ranks = state.get("elapsed", 0.0), state.get("rng_ranks", [])
    if isinstance(elapsed, bool) or not isinstance(elapsed, (int, float)) or not 0 <= elapsed < float("inf"):
        return f"elapsed {elapsed!r} is not a number of seconds >= 0"
    for key, low, high, default in (("world_size", 1, 1 << 16, 1), ("rollbacks", 0, MAX_ROLLBACKS, 0)):
        value = state.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return f"{key} {value!r} is not an integer in {low}..{high}"
    if not isinstance(ranks, list) or not isinstance(state.get("sampler", {}), dict):
        return "rng_ranks is not a list or sampler not a dict"
    for name in ("opt_d", "opt_g"):
        moments = state[name].get("state", {})
        tensors = [v for entry in (moments.values() if isinstance(moments, dict) else ()) if isinstance(entry, dict)
                   for v in entry.values() if isinstance(v, torch.Tensor)]
        if any(not t.is_floating_point() or not bool(torch.isfinite(t).all()) for t in tensors):
            return f"{name} holds tensors that are not finite floating-point numbers"
    return None


def save_state(path: str | os.PathLike, state: ResumeState, *, keep_previous: bool = True) -> None:
    """Write a resume state atomically.

    Args:
        path: target, normally ``RUN/state.pt``.
        state: the state.
        keep_previous: keep the state being replaced as ``state.prev.pt`` beside it (a hard link).
    Raises:
        TrainingError: the folder cannot be written or the disk is full; the old files are intact.
    """
    path = Path(path)
    data = state.to_dict()

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # a Python file, so a failed write surfaces as its OSError (errno)
            try:
                torch.save(data, fh)
            except RuntimeError as exc:
                if isinstance(exc.__context__, OSError):
                    raise exc.__context__ from None
                raise OSError(errno.EIO, f"torch.save failed: {exc}") from None

    atomic_write(path, write, keep=path.with_name(PREVIOUS_STATE_NAME) if keep_previous else None)


def load_state(path: str | os.PathLike) -> ResumeState:
    """Read a resume state safely: ``weights_only=True`` refuses any pickle that would run code, and only a
    regular file is read (a link, FIFO or device in a run folder is refused).

    Raises:
        CheckpointError: missing, truncated, corrupt, hostile, or not shaped like an infogan state.
        UnsafeFileError: ``path`` is a link or not a regular file.
    """
    path = Path(path)
    if not os.path.lexists(path):
        raise CheckpointError(f"no resume state at {path}: the run has not reached its first snapshot; "
                              "start it again instead of resuming")
    try:
        with os.fdopen(open_regular(path, follow=False), "rb") as fh:
            data = torch.load(fh, map_location="cpu", weights_only=True)
    except InfoGANError:
        raise
    except Exception as exc:  # noqa: BLE001 - torch raises many types for hostile or corrupt pickles
        raise CheckpointError(f"{path} is not a safe, readable resume state ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''}); it was refused") from None
    return ResumeState.from_dict(data, source=str(path))


def own_config(state: ResumeState, run_dir: str | os.PathLike, path: str | os.PathLike) -> RunConfig:
    """The config of ``state`` after checking that it is the run's own: it may differ from the run's
    ``config.json`` in the execution-only fields and the total of iterations (a resume may extend the run), in
    nothing else.

    Raises:
        CheckpointError: the state belongs to another run (naming both files and the differences).
    """
    stored = read_run_config(run_dir)
    try:
        config = state.run_config()
    except InfoGANError as exc:
        raise CheckpointError(f"{path}: the stored config is invalid: {exc}") from None
    diff = config_differences(stored, config, ignore=RESUME_FIELDS)
    if diff:
        raise CheckpointError(f"{path} belongs to another run: its config differs from {Path(run_dir) / CONFIG_NAME} "
                              f"({'; '.join(diff[:4])}{' ...' if len(diff) > 4 else ''}, {CONFIG_NAME} -> state); "
                              "put the run's own state back, or start a new run")
    return config


def latest_state(run_dir: str | os.PathLike) -> tuple[Path | None, ResumeState | None, list[str]]:
    """The newest complete resume state of a run folder: ``state.pt``, else ``state.prev.pt``.

    Args:
        run_dir: the run folder.
    Returns:
        ``(path, state, problems)``: the file used and its content (both None when the run has no state
        yet), and one line per newer file that was skipped because it could not be read.
    Raises:
        CheckpointError: state files exist but none can be read.
    """
    run_dir = Path(run_dir)
    problems = []
    for path in (run_dir / STATE_NAME, run_dir / PREVIOUS_STATE_NAME):
        if not os.path.lexists(path):
            if path.name == STATE_NAME and os.path.lexists(run_dir / PREVIOUS_STATE_NAME):
                problems.append(f"{path} is missing")
            continue
        try:
            return path, load_state(path), problems
        except CheckpointError as exc:
            problems.append(str(exc))
    if problems:
        raise CheckpointError(f"no readable resume state in {run_dir}: " + " | ".join(problems) +
                              ". Start a new run (the snapshot, if any, still loads for inference)")
    return None, None, problems


def restore_optimizers(state: ResumeState, opt_d: torch.optim.Optimizer, opt_g: torch.optim.Optimizer,
                       run_dir: Path) -> None:
    """Load both optimiser states of ``state``.

    Raises:
        CheckpointError: they do not fit the optimisers (another model's state), naming the fix.
    """
    try:
        opt_d.load_state_dict(state.opt_d)
        opt_g.load_state_dict(state.opt_g)
    except (ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise CheckpointError(f"the resume state in {run_dir} has optimiser states that do not fit "
                              f"this model ({type(exc).__name__}: {exc}); start a new run") from None


def rng_state(gen_latent: torch.Generator, gen_data: torch.Generator) -> dict:
    """This process's random streams: the latent and data generators and torch's global one."""
    return {"latent": gen_latent.get_state(), "data": gen_data.get_state(), "torch": torch.get_rng_state()}


def truncate_stats(run_dir: Path, step: int) -> None:
    """Drop the stats lines written after ``step`` (they will be written again)."""
    path = run_dir / STATS_NAME
    if os.path.lexists(path):
        kept = [r for r in read_jsonl(path) if isinstance(r.get("step"), int) and r["step"] <= step]
        atomic_write_text(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept))


def check_free_space(folder: str | os.PathLike, model: torch.nn.Module) -> None:
    """Fail before training when ``folder`` cannot hold a snapshot and a resume state being written.

    The estimate: snapshot = weights and buffers; state = weights + two Adam moments per parameter; each is
    written beside the previous version (and ``state.prev.pt``), so twice that is asked for.

    Raises:
        TrainingError: not enough free space, naming both numbers and the fix.
    """
    weights = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    moments = 2 * sum(p.numel() * p.element_size() for p in model.parameters())
    need = 2 * (2 * weights + moments)
    try:
        free = shutil.disk_usage(folder).free
    except OSError:  # cannot tell (e.g. an exotic mount): the writes themselves will report a full disk
        return
    if free < need:
        raise TrainingError(f"only {free / 2**20:.1f} MiB free in {folder}, but snapshots and resume states "
                            f"of this model need about {need / 2**20:.1f} MiB; free some space or choose "
                            "another --outdir")
