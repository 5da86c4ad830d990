"""Inception-v3 features (the standard FID/KID feature space) through torchmetrics and torch-fidelity.

Used for every dataset but MNIST, and for MNIST on request (``features="inception"``). torchmetrics'
built-in extractor needs the ``torch-fidelity`` package (which installs torchvision) and its weights file
:data:`WEIGHTS_FILE`, which torch-fidelity downloads into the torch hub cache on first use. Where either is
missing, one line says what to provide; nothing is downloaded by this package.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch
from torch import nn

from infogan.errors import ConfigError

WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{WEIGHTS_FILE}"
NUM_FEATURES = 2048


def hub_weights_path() -> Path:
    """Where torch-fidelity looks for (and would download) the weights: ``$TORCH_HOME/hub/checkpoints/``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE


class InceptionFeatures(nn.Module):
    """Inception-v3 pool features (B, 2048) of images in [0, 1] or uint8, grey or RGB, of any size.

    Images are quantised to uint8 and grey ones repeated to RGB, as torchmetrics' extractor expects; it
    resizes them to 299 x 299 itself.
    """

    num_features = NUM_FEATURES

    def __init__(self, extractor: nn.Module) -> None:
        super().__init__()
        self.extractor = extractor

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images if images.dtype == torch.uint8 else (images.float().clamp(0, 1) * 255).round().to(torch.uint8)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)  # (B, 3, H, W)
        return self.extractor(x).float()  # (B, 2048)

    @torch.no_grad()
    def embed(self, images: torch.Tensor, *, batch_size: int = 50) -> torch.Tensor:
        """Features (B, 2048) on the CPU, in chunks of ``batch_size`` (each is resized to 299 x 299)."""
        return torch.cat([self.forward(chunk).cpu() for chunk in images.split(batch_size)])


def load_inception(weights: str | os.PathLike | None = None) -> InceptionFeatures:
    """torchmetrics' Inception-v3 feature extractor (``FrechetInceptionDistance(feature=2048)``).

    Args:
        weights: the torch-fidelity weights file (default: the torch hub cache, see :func:`hub_weights_path`).
    Returns:
        An :class:`InceptionFeatures` in eval mode.
    Raises:
        ConfigError: torch-fidelity is not installed, or the weights cannot be loaded (one line naming the
            package, the file and where to put it).
    """
    where = (f"put {WEIGHTS_FILE} (from {WEIGHTS_URL}) in {hub_weights_path().parent}/ or pass "
             "inception_weights=PATH (infogan eval --inception-weights PATH; torchmetrics' "
             "feature_extractor_weights_path)")
    if importlib.util.find_spec("torch_fidelity") is None:
        raise ConfigError("Inception features need the torch-fidelity package, which is not installed: "
                          f"pip install torch-fidelity (it also installs torchvision), then {where}; "
                          "MNIST can be measured without it (features='mnistnet')")
    from torchmetrics.image.fid import FrechetInceptionDistance

    if weights is None and not hub_weights_path().is_file():
        raise ConfigError(f"the Inception-v3 weights are not in the torch hub cache ({hub_weights_path()}) "
                          f"and are not downloaded here: {where}")
    if weights is not None and not Path(weights).is_file():
        raise ConfigError(f"Inception-v3 weights file {weights} not found; {where}")
    kwargs = {} if weights is None else {"feature_extractor_weights_path": str(weights)}
    try:
        metric = FrechetInceptionDistance(feature=NUM_FEATURES, **kwargs)
    except Exception as exc:  # an old torchmetrics without the path argument, a corrupt file, ...
        detail = " ".join(str(exc).split())[:200]
        raise ConfigError(f"the Inception-v3 feature extractor could not be built ({type(exc).__name__}: "
                          f"{detail}); {where}") from None
    return InceptionFeatures(metric.inception).eval()
