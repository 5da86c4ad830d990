"""Small random affine transforms of image batches, for the transform-consistency term of the objective.

With ``OptimConfig.consistency > 0`` the trainer also asks Q to recover each *categorical* code from a
randomly rotated, scaled and shifted copy of G(z, c) (``infogan.training.objective.info_loss(...,
categorical_only=True)``), in both phases: Q learns a posterior that ignores small pose changes, and G is
rewarded only for category information that survives them. On MNIST this keeps the categorical code from
spending categories on slant or position (two kinds of 1s, 4s split from 9s by slant) and leaves those to the
continuous codes. The idea of asking Q for the same category under transformations is Elastic-InfoGAN's
(Ojha et al., NeurIPS 2020); the loss here is our own: the InfoGAN likelihood term on the transformed image.
Continuous codes are left out on purpose: a rotation changes what "slant" means.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def random_affine_theta(batch: int, *, rotation: float, scale: float, shift: float,
                        generator: torch.Generator | None = None,
                        device: torch.device | str = "cpu") -> torch.Tensor:
    """Affine matrices for ``F.affine_grid``, one per image, drawn uniformly.

    Args:
        batch: number of images B.
        rotation: largest rotation in degrees (angles ~ U(-rotation, rotation)).
        scale: largest relative zoom (factors ~ U(1 - scale, 1 + scale)).
        shift: largest shift as a fraction of the image size, per axis.
        generator: explicit RNG (on ``device``), so that a seed fixes the transforms.
    Returns:
        (B, 2, 3) float32 matrices mapping output to input coordinates.
    """
    u = torch.rand(batch, 4, generator=generator, device=device) * 2.0 - 1.0  # (B, 4) in [-1, 1)
    angle = u[:, 0] * math.radians(rotation)
    zoom = 1.0 + u[:, 1] * scale
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom  # the grid samples the input: inverse zoom
    tx, ty = u[:, 2] * 2.0 * shift, u[:, 3] * 2.0 * shift  # normalised coordinates span 2 per image side
    return torch.stack([torch.stack([cos, -sin, tx], dim=1), torch.stack([sin, cos, ty], dim=1)], dim=1)


def apply_affine(images: torch.Tensor, theta: torch.Tensor, *, fill: float) -> torch.Tensor:
    """Warp images (B, C, H, W) by ``theta`` (B, 2, 3), bilinearly; uncovered pixels get ``fill``.

    Differentiable with respect to the images (G's gradient flows through it). ``fill`` is the background
    value of G's output range: 0 for sigmoid outputs, -1 for tanh outputs.
    """
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)  # (B, H, W, 2)
    warped = F.grid_sample(images - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return warped + fill
