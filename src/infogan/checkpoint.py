"""Self-describing checkpoints, kept apart (as in NVlabs EDM):

- the inference snapshot ``snapshot.safetensors``: G, D and Q weights plus, in the safetensors metadata,
  the full run config and the step. ``load(path)`` rebuilds the networks with no flags.
- the resume state ``state.pt``: weights, optimiser states, step and every RNG state. It holds tensors and
  plain containers only and is read with ``torch.load(weights_only=True)``: a pickle that would run code is
  refused. The state it replaces is kept as ``state.prev.pt``; a resume takes the newest readable one.

Both are written atomically (:mod:`infogan.storage`). The trainer writes the snapshot first and the state
second, so after a crash between the two the snapshot may be one save ahead of the state: the state
carries its own weights, so resuming from it is consistent, and the steps in between are trained again.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from infogan.config import RunConfig
from infogan.errors import CheckpointError, InfoGANError, TrainingError
from infogan.latent.syntax import format_latent
from infogan.storage import atomic_write
from infogan.models import InfoGAN, build_model

SNAPSHOT_NAME = "snapshot.safetensors"
STATE_NAME = "state.pt"
PREVIOUS_STATE_NAME = "state.prev.pt"  # the state before the newest one, kept as a fallback
FORMAT = "infogan-snapshot-v1"


def save_snapshot(model: InfoGAN, path: str | os.PathLike, *, config: RunConfig, step: int) -> Path:
    """Write the inference snapshot atomically.

    Args:
        model: the networks (a DDP/compiled wrapper must be unwrapped first).
        path: target ``.safetensors`` file.
        config: the run config, stored in the metadata so the file describes itself.
        step: the training iteration the weights belong to.
    Returns:
        The path written.
    """
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    meta = {"format": FORMAT, "config": config.to_json(), "step": str(step)}

    def write(tmp: Path) -> None:
        try:
            save_file(tensors, str(tmp), metadata=meta)
        except SafetensorError as exc:  # safetensors reports I/O failures (disk full) as its own type
            raise OSError(errno.EIO, str(exc)) from None

    atomic_write(path, write)
    return Path(path)


def resolve_snapshot(path: str | os.PathLike) -> Path:
    """A run folder, or a snapshot file itself -> the snapshot file."""
    path = Path(path)
    if path.is_dir():
        path = path / SNAPSHOT_NAME
    if not path.exists():
        raise CheckpointError(f"no snapshot at {path}: give a run folder that has trained for at least one "
                              "snapshot, or a .safetensors file written by infogan")
    return path


def read_snapshot(path: str | os.PathLike) -> tuple[RunConfig, dict[str, torch.Tensor], int]:
    """Read config, tensors and step of a snapshot, with clear errors for foreign or corrupt files."""
    path = resolve_snapshot(path)
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            tensors = {key: fh.get_tensor(key) for key in fh.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a readable safetensors snapshot ({exc}); it may be truncated "
                              "or corrupt: use an earlier snapshot or retrain") from None
    if meta.get("format") != FORMAT or "config" not in meta:
        raise CheckpointError(f"{path} has no infogan metadata (format {meta.get('format')!r}): it was not "
                              "written by infogan.save_snapshot")
    try:
        config = RunConfig.from_json(meta["config"])
    except InfoGANError as exc:
        raise CheckpointError(f"{path}: the stored config is invalid: {exc}") from None
    return config, tensors, int(meta.get("step", 0))


def load(path: str | os.PathLike, *, device: str | torch.device = "cpu") -> InfoGAN:
    """Rebuild G, D and Q from a snapshot file or run folder, in eval mode.

    Args:
        path: a run folder or a ``.safetensors`` snapshot.
        device: where to put the networks.
    Returns:
        The :class:`InfoGAN` with ``run_config`` and ``step`` attributes set.
    """
    config, tensors, step = read_snapshot(path)
    model = build_model(config.model, init=False)
    load_weights(model, tensors, source=str(path))
    model.run_config = config
    model.step = step
    return model.to(device).eval()


def load_weights(model: InfoGAN, tensors: dict[str, torch.Tensor], *, source: str) -> None:
    """Load a state dict, naming every missing, unexpected or mis-shaped tensor on mismatch."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    shapes = [f"{k}: checkpoint {tuple(tensors[k].shape)} vs model {tuple(v.shape)}"
              for k, v in expected.items() if k in tensors and tensors[k].shape != v.shape]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing {missing[:8]}{' ...' if len(missing) > 8 else ''}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:8]}{' ...' if len(unexpected) > 8 else ''}")
        if shapes:
            parts.append("shape mismatch " + "; ".join(shapes[:8]))
        raise CheckpointError(f"{source} does not fit this architecture/latent layout: " + ", ".join(parts))
    model.load_state_dict(tensors)


def save_state(path: str | os.PathLike, state: dict[str, Any], *, keep_previous: bool = True) -> None:
    """Write a resume state (tensors and plain containers only) atomically.

    Args:
        path: target, normally ``RUN/state.pt``.
        state: the state (see :meth:`infogan.training.Trainer.save`).
        keep_previous: keep the state being replaced as ``state.prev.pt`` beside it (a hard link).
    Raises:
        TrainingError: the folder cannot be written or the disk is full; the old files are intact.
    """
    path = Path(path)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # a Python file, so a failed write surfaces as its OSError (errno)
            try:
                torch.save(state, fh)
            except RuntimeError as exc:
                if isinstance(exc.__context__, OSError):
                    raise exc.__context__ from None
                raise OSError(errno.EIO, f"torch.save failed: {exc}") from None

    atomic_write(path, write, keep=path.with_name(PREVIOUS_STATE_NAME) if keep_previous else None)


def load_state(path: str | os.PathLike) -> dict[str, Any]:
    """Read a resume state safely: ``weights_only=True`` refuses any pickle that would run code.

    Raises:
        CheckpointError: missing, truncated, corrupt, hostile, or not shaped like an infogan state.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no resume state at {path}: the run has not reached its first snapshot; "
                              "start it again instead of resuming")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for hostile or corrupt pickles
        raise CheckpointError(f"{path} is not a safe, readable resume state ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''}); it was refused") from None
    problem = _state_problem(state)
    if problem:
        raise CheckpointError(f"{path} is not an infogan resume state ({problem}); it was refused")
    return state


def _state_problem(state: Any) -> str | None:
    """What is wrong with the structure of a loaded state, or None."""
    if not isinstance(state, dict):
        return f"a {type(state).__name__}, not a dict"
    missing = [k for k in ("step", "config", "model", "opt_d", "opt_g", "rng") if k not in state]
    if missing:
        return f"missing {missing}"
    if isinstance(state["step"], bool) or not isinstance(state["step"], int) or state["step"] < 0:
        return f"step {state['step']!r} is not an integer >= 0"
    if not isinstance(state["config"], str):
        return "config is not a JSON string"
    model = state["model"]
    if not isinstance(model, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in model.items()):
        return "model is not a dict of named tensors"
    for key in ("opt_d", "opt_g", "rng"):
        if not isinstance(state[key], dict):
            return f"{key} is not a dict"
    return None


def latest_state(run_dir: str | os.PathLike) -> tuple[Path | None, dict[str, Any] | None, list[str]]:
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
        if not path.exists():
            if path.name == STATE_NAME and (run_dir / PREVIOUS_STATE_NAME).exists():
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


def snapshot_step(path: str | os.PathLike) -> int | None:
    """The step stored in a snapshot's metadata (reads the header only); None if missing or unreadable."""
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
        return int(meta["step"]) if meta.get("format") == FORMAT else None
    except (SafetensorError, OSError, ValueError, KeyError):
        return None


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


def snapshot_config(path: str | os.PathLike) -> RunConfig:
    """The run config stored in a snapshot (or a run folder's config.json)."""
    path = Path(path)
    if path.is_dir() and not (path / SNAPSHOT_NAME).exists() and (path / "config.json").exists():
        return RunConfig.from_json((path / "config.json").read_text())
    return read_snapshot(path)[0]


def describe(path: str | os.PathLike) -> dict:
    """Step, preset and latent layout of a snapshot (for CLI listings)."""
    config, _, step = read_snapshot(path)
    return {"step": step, "preset": config.preset, "latent": format_latent(config.model.latent),
            "config": json.loads(config.to_json())}
