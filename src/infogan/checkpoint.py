"""Self-describing checkpoints, kept apart (as in NVlabs EDM):

- the inference snapshot ``snapshot.safetensors``: G, D and Q weights plus, in the safetensors metadata,
  the full run config and the step. ``load(path)`` rebuilds the networks with no flags.
- the resume state ``state.pt``: weights, optimiser states, step and every RNG state. It holds tensors and
  plain containers only and is read with ``torch.load(weights_only=True)``: a pickle that would run code is
  refused.

Both are written atomically (:mod:`infogan.io`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from infogan.config import RunConfig
from infogan.errors import CheckpointError, InfoGANError
from infogan.io import atomic_write
from infogan.models import InfoGAN, build_model

SNAPSHOT_NAME = "snapshot.safetensors"
STATE_NAME = "state.pt"
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
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=meta))
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


def save_state(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write a resume state (tensors and plain containers only) atomically."""
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_state(path: str | os.PathLike) -> dict[str, Any]:
    """Read a resume state safely: ``weights_only=True`` refuses any pickle that would run code."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no resume state at {path}: the run has not reached its first snapshot; "
                              "start it again instead of resuming")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for hostile or corrupt pickles
        raise CheckpointError(f"{path} is not a safe, readable resume state ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''}); it was refused") from None
    if not isinstance(state, dict) or "step" not in state or "config" not in state:
        raise CheckpointError(f"{path} is not an infogan resume state (missing step/config)")
    return state


def snapshot_config(path: str | os.PathLike) -> RunConfig:
    """The run config stored in a snapshot (or a run folder's config.json)."""
    path = Path(path)
    if path.is_dir() and not (path / SNAPSHOT_NAME).exists() and (path / "config.json").exists():
        return RunConfig.from_json((path / "config.json").read_text())
    return read_snapshot(path)[0]


def describe(path: str | os.PathLike) -> dict:
    """Step, preset and latent layout of a snapshot (for CLI listings)."""
    config, _, step = read_snapshot(path)
    return {"step": step, "preset": config.preset, "latent": config.model.latent.describe(),
            "config": json.loads(config.to_json())}
