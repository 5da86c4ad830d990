"""Architecture registry: name -> builder taking a ModelConfig and returning an InfoGAN, with the image sides
each architecture handles, checked (:func:`check_model`) before anything is built."""

from __future__ import annotations

from functools import partial
from typing import Callable

import torch
from torch import nn

from infogan.config import ModelConfig
from infogan.errors import ConfigError, InfoGANError
from infogan.latent.syntax import format_latent
from infogan.models import chairs, faces, svhn
from infogan.models.base import Discriminator, InfoGAN
from infogan.models.chairs import build_chairs
from infogan.models.dsprites import build_dsprites, build_dsprites_broadcast
from infogan.models.dsprites_cr import (
    build_dsprites_cr,
    build_dsprites_cr_g,
    build_dsprites_cr_g_maxpool,
    init_dsprites_cr,
    init_dsprites_cr_g,
)
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
    "dsprites-coord": partial(build_dsprites, coords=True),  # G's up-convolutions also see pixel coordinates
    "dsprites-broadcast": build_dsprites_broadcast,  # G: a spatial broadcast decoder
    "dsprites-mbstd": partial(build_dsprites, mbstd=True),  # D's head sees the minibatch std
    "dsprites-cr": build_dsprites_cr,  # InfoGAN-CR's released dSprites code
    "dsprites-cr-g": build_dsprites_cr_g,  # their G, the dsprites D and Q
    "dsprites-cr-g-maxpool": build_dsprites_cr_g_maxpool,  # their G; D and Q also read maxima over positions
}

# The image sides each architecture handles: ("only", n) for n x n images, ("multiple", f) for sides that are
# multiples of f (G grows its start size by stride-2 layers, D shrinks the image by as many).
IMAGE_SIDES: dict[str, tuple[str, int]] = {
    "mnist": ("only", 28), "svhn": ("multiple", svhn.FACTOR), "faces": ("multiple", faces.FACTOR),
    "chairs": ("multiple", chairs.FACTOR), "dsprites": ("only", 64), "dsprites-coord": ("only", 64),
    "dsprites-broadcast": ("only", 64), "dsprites-mbstd": ("only", 64),
    "dsprites-cr": ("only", 64), "dsprites-cr-g": ("only", 64), "dsprites-cr-g-maxpool": ("only", 64),
}

# Architectures whose reference code initialises differently from the official InfoGAN code (init_weights).
INITIALISERS: dict[str, Callable[[nn.Module], None]] = {
    "dsprites-cr": init_dsprites_cr,
    "dsprites-cr-g": init_dsprites_cr_g,
    "dsprites-cr-g-maxpool": init_dsprites_cr_g,
}


def register(name: str, builder: Callable[[ModelConfig], InfoGAN], *,
             init: Callable[[nn.Module], None] | None = None, sides: tuple[str, int] | None = None) -> None:
    """Add an architecture to the registry (``init``: its initialiser, default the official code's; ``sides``:
    the image sides it handles, as in :data:`IMAGE_SIDES`, default unchecked)."""
    ARCHITECTURES[name] = builder
    if init is not None:
        INITIALISERS[name] = init
    if sides is not None:
        IMAGE_SIDES[name] = sides


def check_model(cfg: ModelConfig) -> None:
    """Refuse a model config that cannot be built or trained, before anything is built: an unknown architecture,
    image sides the architecture does not handle, or a latent spec without codes.

    Raises:
        ConfigError: naming the problem and the fix.
    """
    if cfg.arch not in ARCHITECTURES:
        raise ConfigError(f"unknown architecture {cfg.arch!r}; known: {sorted(ARCHITECTURES)}")
    _, h, w = cfg.image_shape
    rule, n = IMAGE_SIDES.get(cfg.arch, ("any", 1))
    if (rule == "only" and (h, w) != (n, n)) or (rule == "multiple" and (h % n or w % n)):
        handles = f"{n} x {n} images only" if rule == "only" else f"image sides that are multiples of {n}"
        raise ConfigError(f"architecture {cfg.arch!r} handles {handles}, but image_shape is "
                          f"{tuple(cfg.image_shape)}; choose the preset made for these images, or set "
                          "model.image_shape to what the architecture handles")
    if not cfg.latent.codes:
        raise ConfigError(f"the latent spec {format_latent(cfg.latent)!r} has no codes: InfoGAN needs at least "
                          "one (e.g. 'noise62,cat10,unif2'); for a GAN whose G is not rewarded for information, "
                          "keep a code and add --baseline")


def expected_state(cfg: ModelConfig) -> dict[str, tuple[tuple[int, ...], torch.dtype]] | None:
    """Name -> (shape, dtype) of every tensor ``build_model(cfg)``'s state dict holds, from a build on the meta
    device (nothing is allocated); None for an architecture that cannot be built there.

    Raises:
        ConfigError: see :func:`check_model`.
    """
    check_model(cfg)
    try:
        with torch.device("meta"):
            model = ARCHITECTURES[cfg.arch](cfg)
    except InfoGANError:
        raise
    except Exception:  # noqa: BLE001 - a registered builder that needs real tensors: no early check
        return None
    return {k: (tuple(v.shape), v.dtype) for k, v in model.state_dict().items()}


def build_model(cfg: ModelConfig, *, init: bool = True) -> InfoGAN:
    """Build G, D and Q for ``cfg`` (weights initialised as in the architecture's reference code when ``init``).

    Raises:
        ConfigError: see :func:`check_model` (checked before anything is built).
    """
    check_model(cfg)
    model = ARCHITECTURES[cfg.arch](cfg)
    if init:
        INITIALISERS.get(cfg.arch, init_weights)(model)
    return model


__all__ = ["ARCHITECTURES", "IMAGE_SIDES", "INITIALISERS", "Discriminator", "InfoGAN", "build_model", "check_model",
           "expected_state", "register"]
