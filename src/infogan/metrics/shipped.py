"""Networks shipped inside the package (the digit feature network, the dSprites shape classifier): their
weights as deterministic safetensors bytes, checked by SHA-256 whenever they are loaded.

A shipped file is missing, unreadable, altered or stale: each gets one line naming the file and the command
that rebuilds it, never a traceback from inside safetensors or torch.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from torch import nn

from infogan.errors import DataError

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def state_bytes(net: nn.Module, *, arch: str, metadata: dict[str, str] | None = None) -> bytes:
    """The network's parameters and buffers as safetensors bytes (float32; batch-norm counters dropped).

    The same tensors and metadata always give the same bytes, so a rebuild from the same seed reproduces
    the recorded SHA-256.
    """
    from safetensors.torch import save

    state = {k: v.detach().float().cpu().contiguous() for k, v in net.state_dict().items()
             if not k.endswith("num_batches_tracked")}
    return save(state, metadata={"arch": arch, **(metadata or {})})


def load_checked(net: nn.Module, path: str | os.PathLike, *, sha256: str | None, what: str, rebuild: str) -> nn.Module:
    """Load shipped weights into ``net`` after checking the file's SHA-256; return it in eval mode, frozen.

    Args:
        net: the freshly built network.
        path: the weights file.
        sha256: the digest the file must have (None: not checked, for a file just trained).
        what: the network's name in messages ("the digit feature network").
        rebuild: the command that rebuilds the file.
    Raises:
        DataError: the file is missing or unreadable, its digest differs, or its tensors do not fit ``net``.
    """
    from safetensors.torch import load

    path = Path(path)
    fix = f"reinstall infogan, or rebuild it with '{rebuild}' from a source checkout"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{what} weights {path} cannot be read ({exc.strerror or exc}); {fix}") from None
    actual = hashlib.sha256(data).hexdigest()
    if sha256 is not None and actual != sha256:
        raise DataError(f"{what} weights {path} are corrupt (SHA-256 {actual[:12]}..., expected {sha256[:12]}...); {fix}")
    try:
        net.load_state_dict(load(data))  # batch norm fills in the dropped num_batches_tracked counters
    except Exception as exc:  # noqa: BLE001 - a file with the right digest but the wrong layout (a stale constant)
        detail = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise DataError(f"{what} weights {path} do not fit the network ({detail}); {fix}") from None
    net.eval()
    net.requires_grad_(False)
    return net


@torch.no_grad()
def embed_in_chunks(forward, images: torch.Tensor, device: torch.device, *, batch_size: int) -> torch.Tensor:
    """``forward`` over ``images`` in chunks of ``batch_size`` on ``device``; float32 results on the CPU."""
    return torch.cat([forward(chunk.to(device)).float().cpu() for chunk in images.split(batch_size)])
