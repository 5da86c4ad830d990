"""The inference snapshot ``snapshot.safetensors``: G, D and Q weights plus, in the safetensors metadata,
the full run config and the step, so that ``load(path)`` rebuilds the networks with no flags.

Inference (the explorer, ``encode``, ``export``) needs nothing else; the resume state, which holds the
optimisers and random streams as well, is a separate file of the training package
(:mod:`infogan.training.state`), as in NVlabs EDM. Snapshots are written atomically
(:mod:`infogan.storage`) and read with safetensors only: no pickle. A snapshot from elsewhere is checked
before anything is allocated: a regular file, a valid (size-bounded) config and step, and tensor names,
shapes and dtypes read from the header against the networks the config describes; then the weights must be
finite.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from infogan.config import RunConfig
from infogan.config.schema import MAX_ITERATIONS
from infogan.errors import CheckpointError, InfoGANError
from infogan.models import InfoGAN, build_model, expected_state
from infogan.storage import atomic_write, open_regular

SNAPSHOT_NAME = "snapshot.safetensors"
FORMAT = "infogan-snapshot-v1"
_STEP = re.compile(r"^\d{1,10}$")
# safetensors' dtype names -> torch's, for the header check
_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
           "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
           "BOOL": torch.bool}


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
    """A run folder, or a snapshot file itself -> the snapshot file: a regular file (the one in a run folder
    not a link either), so that reading it can neither block on a FIFO nor run on from a device."""
    path = Path(path)
    inside = path.is_dir()
    if inside:
        path = path / SNAPSHOT_NAME
    if not os.path.lexists(path):
        raise CheckpointError(f"no snapshot at {path}: give a run folder that has trained for at least one "
                              "snapshot, or a .safetensors file written by infogan")
    try:
        os.close(open_regular(path, follow=not inside))
    except OSError as exc:
        raise CheckpointError(f"cannot read the snapshot {path}: {exc.strerror or exc}") from None
    return path


def read_snapshot(path: str | os.PathLike) -> tuple[RunConfig, dict[str, torch.Tensor], int]:
    """Read config, tensors and step of a snapshot, with clear errors for foreign or corrupt files.

    The tensors' names, shapes and dtypes (from the file's header) are compared with the networks the stored
    config describes before any tensor is read or any network built.

    Raises:
        CheckpointError: unreadable, foreign, corrupt, or not fitting its own config.
    """
    path = resolve_snapshot(path)
    try:
        with safe_open(str(path), framework="pt") as fh:
            config, step = _described(path, fh.metadata() or {})
            header = {}
            for key in fh.keys():
                piece = fh.get_slice(key)
                header[key] = (tuple(piece.get_shape()), _DTYPES.get(piece.get_dtype(), piece.get_dtype()))
            expected = expected_state(config.model)
            if expected is not None:
                _check_layout(expected, header, source=str(path))
            tensors = {key: fh.get_tensor(key) for key in fh.keys()}
    except CheckpointError:
        raise
    except InfoGANError as exc:  # the stored config names sizes or an architecture that cannot be built
        raise CheckpointError(f"{path}: the stored config cannot be used: {exc}") from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a readable safetensors snapshot ({exc}); it may be truncated "
                              "or corrupt: use an earlier snapshot or retrain") from None
    return config, tensors, step


def _described(path: Path, meta: dict) -> tuple[RunConfig, int]:
    """The config and step of a snapshot's metadata."""
    if meta.get("format") != FORMAT or "config" not in meta:
        raise CheckpointError(f"{path} has no infogan metadata (format {meta.get('format')!r}): it was not "
                              "written by infogan.save_snapshot")
    try:
        config = RunConfig.from_json(meta["config"])
    except InfoGANError as exc:
        raise CheckpointError(f"{path}: the stored config is invalid: {exc}") from None
    step = meta.get("step", "0")
    if not _STEP.match(step) or int(step) > MAX_ITERATIONS:
        raise CheckpointError(f"{path}: the stored step {step[:40]!r} is not an integer in 0..{MAX_ITERATIONS:,}; "
                              "the file is corrupt or was not written by infogan: use another snapshot")
    return config, int(step)


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
    """Load a state dict, naming every missing, unexpected, mis-shaped or mis-typed tensor on mismatch.

    Raises:
        CheckpointError: the tensors do not fit ``model``, or hold NaN or infinite values.
    """
    _check_layout({k: (tuple(v.shape), v.dtype) for k, v in model.state_dict().items()},
                  {k: (tuple(v.shape), v.dtype) for k, v in tensors.items()}, source=source)
    broken = [k for k, v in tensors.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if broken:
        raise CheckpointError(f"{source} holds NaN or infinite values in {broken[:4]}{' ...' if len(broken) > 4 else ''}; "
                              "these weights are broken: use an earlier snapshot or state, or retrain")
    model.load_state_dict(tensors)


def _check_layout(expected: dict[str, tuple], found: dict[str, tuple], *, source: str) -> None:
    """Compare name -> (shape, dtype) of a file's tensors with a model's; one CheckpointError naming them all."""
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    shared = [k for k in expected if k in found]
    shapes = [f"{k}: checkpoint {found[k][0]} vs model {expected[k][0]}" for k in shared if found[k][0] != expected[k][0]]
    dtypes = [f"{k}: checkpoint {_name(found[k][1])} vs model {_name(expected[k][1])}" for k in shared
              if found[k][1] != expected[k][1]]
    parts = []
    if missing:
        parts.append(f"missing {missing[:8]}{' ...' if len(missing) > 8 else ''}")
    if unexpected:
        parts.append(f"unexpected {unexpected[:8]}{' ...' if len(unexpected) > 8 else ''}")
    if shapes:
        parts.append("shape mismatch " + "; ".join(shapes[:8]))
    if dtypes:
        parts.append("dtype mismatch " + "; ".join(dtypes[:8]))
    if parts:
        raise CheckpointError(f"{source} does not fit this architecture/latent layout: " + ", ".join(parts))


def _name(dtype) -> str:
    return str(dtype).removeprefix("torch.")


def snapshot_step(path: str | os.PathLike) -> int | None:
    """The step stored in a snapshot's metadata (reads the header only); None if missing, unreadable, not a
    regular file (a link or FIFO in a run folder) or not a valid step."""
    try:
        os.close(open_regular(path, follow=False))
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
        step = meta.get("step", "")
        return int(step) if meta.get("format") == FORMAT and _STEP.match(step) and int(step) <= MAX_ITERATIONS else None
    except (SafetensorError, OSError, ValueError, KeyError, InfoGANError):
        return None
