"""The feature network of the sample-quality metrics: a small digit classifier trained and shipped here.

FID, KID and precision/recall need a feature space in which distances mean something for the images
compared. Inception-v3 (ImageNet photographs) is the usual one, but its weights cannot be fetched on every
machine and it sees 28 x 28 digits through a 299 x 299 resize; MNIST samples are measured instead in the
128-d feature layer of :class:`DigitFeatureNet`, trained on the MNIST training split by
``benchmarks/train_feature_net.py`` (>= 99% on the test split, see docs/metrics.md) and shipped as
``weights/mnist_features.safetensors``, whose SHA-256 is checked at every load.

    from infogan.metrics.feature_nets import load_feature_net
    net = load_feature_net("mnist")
    feats = net(images)              # (B, 128) from uint8 (B, 1, 28, 28) or float in [0, 1]
    digits = net.classify(images)    # (B,) predicted digit
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from infogan.errors import ConfigError
from infogan.metrics.shipped import WEIGHTS_DIR, embed_in_chunks, load_checked

# name -> (file inside WEIGHTS_DIR, SHA-256 of that file)
WEIGHTS = {
    "mnist": ("mnist_features.safetensors", "b8e377af9f32879c238f7f7eca5466275dd595be36eb4ada756d979fb866d1fa"),
}
REBUILD = "python benchmarks/train_feature_net.py --seed 0"
# Pixel statistics of the MNIST training split: inputs are standardised with them.
PIXEL_MEAN, PIXEL_STD = 0.1307, 0.3081


def _conv(c_in: int, c_out: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True))


class DigitFeatureNet(nn.Module):
    """conv5x5-32, pool, conv3x3-64, pool, conv3x3-128, global average pool, FC-128 (the features), FC-10.

    Attributes:
        num_features: width of the feature layer (what :meth:`forward` returns).
    """

    num_features = 128

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.trunk = nn.Sequential(
            _conv(1, 32, 5), nn.MaxPool2d(2),  # (B, 32, 14, 14)
            _conv(32, 64, 3), nn.MaxPool2d(2),  # (B, 64, 7, 7)
            _conv(64, 128, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())  # (B, 128)
        self.features = nn.Sequential(nn.Linear(128, self.num_features, bias=False),
                                      nn.BatchNorm1d(self.num_features), nn.ReLU(inplace=True))  # (B, 128)
        self.head = nn.Linear(self.num_features, num_classes)  # (B, 10)

    @staticmethod
    def prepare(images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, 1, 28, 28) in 0..255 or float in [0, 1] -> standardised float32 (B, 1, 28, 28)."""
        if images.ndim != 4 or tuple(images.shape[1:]) != (1, 28, 28):
            raise ConfigError(f"the digit feature network takes images of shape (B, 1, 28, 28), got "
                              f"{tuple(images.shape)}; other image sizes use Inception features (features='inception')")
        x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
        return (x - PIXEL_MEAN) / PIXEL_STD

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Features (B, 128) of uint8 images in 0..255 or float images in [0, 1]."""
        return self.features(self.trunk(self.prepare(images)))

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits (B, 10)."""
        return self.head(self.forward(images))

    @torch.no_grad()
    def classify(self, images: torch.Tensor, *, batch_size: int = 1000) -> torch.Tensor:
        """Predicted digit (B,) int64, in chunks of ``batch_size``."""
        return torch.cat([self.logits(chunk).argmax(dim=1) for chunk in images.split(batch_size)])

    def embed(self, images: torch.Tensor, *, batch_size: int = 1000) -> torch.Tensor:
        """Features (B, 128) float32 on the CPU, in chunks of ``batch_size``."""
        return embed_in_chunks(self.forward, images, next(self.parameters()).device, batch_size=batch_size)


def weights_path(name: str = "mnist") -> Path:
    """The shipped weights file of feature network ``name``."""
    if name not in WEIGHTS:
        raise ConfigError(f"no shipped feature network {name!r}; known: {', '.join(WEIGHTS)}")
    return WEIGHTS_DIR / WEIGHTS[name][0]


def load_feature_net(name: str = "mnist", *, path: str | os.PathLike | None = None,
                     sha256: str | None = None) -> DigitFeatureNet:
    """Load a shipped feature network, checking its file's SHA-256.

    Args:
        name: which network ("mnist").
        path: a weights file to load instead of the shipped one (checked against ``sha256`` all the same).
        sha256: the expected SHA-256 (default: the shipped file's, recorded in :data:`WEIGHTS`).
    Returns:
        The network in eval mode, on the CPU, without gradients.
    Raises:
        DataError: the file is missing, unreadable, or its SHA-256 differs (one line naming the rebuild command;
            :func:`infogan.metrics.shipped.load_checked`).
    """
    shipped = weights_path(name)  # an unknown name fails here
    file = Path(path) if path is not None else shipped
    return load_checked(DigitFeatureNet(), file, sha256=sha256 or WEIGHTS[name][1], what="the digit feature network",
                        rebuild=REBUILD)
