"""The inference snapshot ``snapshot.safetensors``: G, D and Q weights plus, in the safetensors metadata,
the full run config and the step, so that ``load(path)`` rebuilds the networks with no flags.

Inference (the explorer, ``encode``, ``export``) needs nothing else; the resume state, which holds the
optimisers and random streams as well, is a separate file of the training package
(:mod:`infogan.training.state`), as in NVlabs EDM. Snapshots are written atomically
(:mod:`infogan.storage`) and read with safetensors only: no pickle.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from infogan.config import RunConfig
from infogan.errors import CheckpointError, InfoGANError
from infogan.storage import atomic_write
from infogan.models import InfoGAN, build_model

SNAPSHOT_NAME = "snapshot.safetensors"
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


def snapshot_step(path: str | os.PathLike) -> int | None:
    """The step stored in a snapshot's metadata (reads the header only); None if missing or unreadable."""
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
        return int(meta["step"]) if meta.get("format") == FORMAT else None
    except (SafetensorError, OSError, ValueError, KeyError):
        return None
