"""Architecture registry: name -> builder taking a ModelConfig and returning an InfoGAN."""

from __future__ import annotations

from typing import Callable

from torch import nn

from infogan.config import ModelConfig
from infogan.errors import ConfigError
from infogan.models.base import Discriminator, InfoGAN
from infogan.models.chairs import build_chairs
from infogan.models.dsprites import build_dsprites
from infogan.models.dsprites_cr import build_dsprites_cr, init_dsprites_cr
from infogan.models.faces import build_faces
from infogan.models.layers import init_weights
from infogan.models.mnist import build_mnist
from infogan.models.svhn import build_svhn

ARCHITECTURES: dict[str, Callable[[ModelConfig], InfoGAN]] = {
    "mnist": build_mnist,  # Table 1 (MNIST, Fashion-MNIST)
    "svhn": build_svhn,  # Tables 2 and 3 (SVHN, CelebA)
    "faces": build_faces,  # Table 4 (3D Faces)
    "chairs": build_chairs,  # Table 6 (3D Chairs)
    "dsprites": build_dsprites,
    "dsprites-cr": build_dsprites_cr,  # InfoGAN-CR's released dSprites code
}

# Architectures whose reference code initialises differently from the official InfoGAN code (init_weights).
INITIALISERS: dict[str, Callable[[nn.Module], None]] = {
    "dsprites-cr": init_dsprites_cr,
}


def register(name: str, builder: Callable[[ModelConfig], InfoGAN], *,
             init: Callable[[nn.Module], None] | None = None) -> None:
    """Add an architecture to the registry (``init``: its initialiser; default the official code's)."""
    ARCHITECTURES[name] = builder
    if init is not None:
        INITIALISERS[name] = init


def build_model(cfg: ModelConfig, *, init: bool = True) -> InfoGAN:
    """Build G, D and Q for ``cfg`` (weights initialised as in the architecture's reference code when ``init``)."""
    if cfg.arch not in ARCHITECTURES:
        raise ConfigError(f"unknown architecture {cfg.arch!r}; known: {sorted(ARCHITECTURES)}")
    model = ARCHITECTURES[cfg.arch](cfg)
    if init:
        INITIALISERS.get(cfg.arch, init_weights)(model)
    return model


__all__ = ["ARCHITECTURES", "INITIALISERS", "Discriminator", "InfoGAN", "build_model", "register"]
