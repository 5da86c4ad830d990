"""A small CNN that tells dSprites' three shapes apart (square, ellipse, heart): the classifier of the ``shape`` metric.

The idea is InfoGAN-CR's dSprites sample-quality classifier (Lin et al., ICML 2020; github.com/fjxmlzn/InfoGAN-CR:
``DSpritesInceptionScore`` of ``FactorVAE_dSprites/gan/metric.py``, the class ``InfoGAN-CR_dSprites/gan_task.py``
uses, a CNN trained on the shape labels of the whole set); the network and its training are this package's own.
It is trained by ``benchmarks/train_shape_net.py --seed 0`` on renders of this package's
:func:`infogan.data.dsprites.render_dsprites` (plus non-shapes: discs, Gaussian blobs, heavily blurred sprites
and speckle, taught to give the uniform distribution), shipped as ``weights/dsprites_shapes.safetensors`` and
checked against :data:`WEIGHTS_SHA256` whenever it is loaded.

Input (B, 1, 64, 64), float in [0, 1] or uint8 0..255. The network first cuts a 32x32 window around the
centroid of the bright pixels (> 0.5; of all the ink when none is that bright), so that the sprite sits at
the same place whatever its position, then:

    conv16 BN ReLU, maxpool; conv32 BN ReLU, maxpool; conv64 BN ReLU, maxpool; conv64 BN ReLU;
    global max pool; FC64 ReLU (the features, ``num_features`` = 64); FC3 (logits: square, ellipse, heart).

:meth:`ShapeNet.embed` gives the features (for a Frechet or kernel distance in this feature space).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from infogan.data.dsprites import IMAGE_SIZE, SHAPE_NAMES
from infogan.errors import ConfigError
from infogan.metrics.shipped import WEIGHTS_DIR, embed_in_chunks, load_checked

WEIGHTS_PATH = WEIGHTS_DIR / "dsprites_shapes.safetensors"
WEIGHTS_SHA256 = "93ae421bd20da5e82d4bcb50f2d5bce6f5074276c1e1ebd5543b7ee5745eadbd"
REBUILD_COMMAND = "python benchmarks/train_shape_net.py --seed 0"
CROP = 32  # window side: every sprite fits in a disk of radius 8.5 px around its centroid


class CentroidCrop(nn.Module):
    """(B, 1, 64, 64) -> (B, 1, 32, 32): the window centred on the centroid of the bright pixels (zero-padded)."""

    def __init__(self, size: int = CROP) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        ink = x[:, 0]  # (B, H, W)
        bright = (ink - 0.5).clamp(min=0.0)
        weights = torch.where(bright.sum(dim=(1, 2), keepdim=True) > 0, bright, ink)  # (B, H, W)
        mass = weights.sum(dim=(1, 2))  # (B,)
        grid_y = torch.arange(h, dtype=x.dtype, device=x.device) + 0.5
        grid_x = torch.arange(w, dtype=x.dtype, device=x.device) + 0.5
        safe = mass.clamp(min=1e-6)
        cy = torch.where(mass > 0, (weights.sum(dim=2) * grid_y).sum(dim=1) / safe, torch.full_like(mass, h / 2))
        cx = torch.where(mass > 0, (weights.sum(dim=1) * grid_x).sum(dim=1) / safe, torch.full_like(mass, w / 2))
        half = self.size // 2
        padded = F.pad(x[:, 0], (half, half, half, half))  # (B, H + size, W + size)
        offsets = torch.arange(self.size, device=x.device)
        rows = cy.floor().long().clamp(0, h - 1)[:, None] + offsets  # (B, size), padded coordinates
        cols = cx.floor().long().clamp(0, w - 1)[:, None] + offsets
        batch = torch.arange(b, device=x.device)[:, None, None]
        return padded[batch, rows[:, :, None], cols[:, None, :]].unsqueeze(1)  # (B, 1, size, size)

    def extra_repr(self) -> str:
        return f"size={self.size}"


def _conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class ShapeNet(nn.Module):
    """The shape classifier; ``forward`` gives logits (B, 3) in the order of :data:`SHAPE_NAMES`."""

    num_features = 64
    num_classes = len(SHAPE_NAMES)

    def __init__(self) -> None:
        super().__init__()
        self.crop = CentroidCrop()
        self.body = nn.Sequential(
            _conv(1, 16), nn.MaxPool2d(2),  # (B, 16, 16, 16)
            _conv(16, 32), nn.MaxPool2d(2),  # (B, 32, 8, 8)
            _conv(32, 64), nn.MaxPool2d(2),  # (B, 64, 4, 4)
            _conv(64, 64),  # (B, 64, 4, 4)
            nn.AdaptiveMaxPool2d(1), nn.Flatten(),  # (B, 64)
            nn.Linear(64, self.num_features), nn.ReLU(),  # (B, 64)
        )
        self.classifier = nn.Linear(self.num_features, self.num_classes)  # (B, 3)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The penultimate layer (B, ``num_features``) for images (B, 1, 64, 64)."""
        return self.body(self.crop(as_unit_float(images)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(images))

    def probabilities(self, images: torch.Tensor, *, batch_size: int = 500) -> torch.Tensor:
        """Softmax over the three shapes (B, 3), float32 on the CPU, in chunks (the network must be in eval mode)."""
        return embed_in_chunks(lambda x: F.softmax(self(x).float(), dim=1), images, next(self.parameters()).device,
                               batch_size=batch_size)

    def embed(self, images: torch.Tensor, *, batch_size: int = 500) -> torch.Tensor:
        """Features (B, ``num_features``) float32 on the CPU, in chunks (for FID/KID in this feature space)."""
        return embed_in_chunks(self.features, images, next(self.parameters()).device, batch_size=batch_size)


def as_unit_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 0..255 or float [0, 1] images (B, 1, 64, 64) -> float [0, 1]; other shapes raise ConfigError."""
    if images.ndim != 4 or tuple(images.shape[1:]) != (1, IMAGE_SIZE, IMAGE_SIZE):
        raise ConfigError(f"the dSprites shape classifier takes images of shape (B, 1, 64, 64), got "
                          f"{tuple(images.shape)}; it only scores dSprites-sized greyscale models")
    return images.float() / 255.0 if images.dtype == torch.uint8 else images.float()


def load_shape_net(path: str | os.PathLike | None = None, *, sha256: str | None = WEIGHTS_SHA256,
                   device: str | torch.device = "cpu") -> ShapeNet:
    """The trained classifier, in eval mode.

    Args:
        path: a weights file (default: the one shipped in the package, :data:`WEIGHTS_PATH`).
        sha256: the digest the file must have (None: not checked, for freshly trained files).
        device: where to put the network.
    Returns:
        The :class:`ShapeNet`.
    Raises:
        DataError: the file is missing, does not match ``sha256``, or does not fit the network
            (:func:`infogan.metrics.shipped.load_checked`).
    """
    path = Path(path) if path is not None else WEIGHTS_PATH
    net = load_checked(ShapeNet(), path, sha256=sha256, what="the dSprites shape classifier", rebuild=REBUILD_COMMAND)
    return net.to(device)
