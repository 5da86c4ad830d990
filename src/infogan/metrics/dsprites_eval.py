"""Driver: disentanglement metrics of a trained InfoGAN against dSprites' ground-truth factors.

The representation is Q's posterior mean of every continuous code (B, n_continuous), computed on rendered
dSprites images with the networks in eval mode; categorical codes, if any, contribute their argmax.
"""

from __future__ import annotations

import numpy as np
import torch

from infogan.errors import ConfigError
from infogan.inference.generate import encode
from infogan.metrics.disentanglement import evaluate_disentanglement


def q_representation(model, images: torch.Tensor) -> np.ndarray:
    """Q's code estimates for uint8 images (B, C, H, W): continuous means, then categorical argmaxes (B, D)."""
    post = encode(model, images)
    cols = [m.numpy() for m in post["means"]] + [p.argmax(dim=1).float().numpy() for p in post["probs"]]
    return np.stack(cols, axis=1)  # (B, D)


def disentanglement_for_model(model, name: str, *, num_train: int | None = None, seed: int = 0) -> dict:
    """One disentanglement metric (``mig``, ``factorvae``, ``dci``, ``sap``, ``betavae``) for ``model``.

    Args:
        model: an InfoGAN trained on 64x64 single-channel images (the dsprites preset).
        name: metric name.
        num_train: sample count instead of the protocol's 10,000 (the protocol name then says so).
    Returns:
        The metric's result dict, with its ``protocol`` name (e.g. ``mig_dsprites_10k``).
    """
    if tuple(model.config.image_shape) != (1, 64, 64):
        raise ConfigError(f"dSprites metrics need a model of 64x64 greyscale images, got {model.config.image_shape}")
    if not model.spec.codes:
        raise ConfigError("the model has no latent codes to score")
    results = evaluate_disentanglement(lambda x: q_representation(model, x), metrics=[name], seed=seed,
                                       num_train=num_train)
    (result,) = results.values()
    return result
