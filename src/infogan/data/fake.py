"""Deterministic fake data for smoke tests and benchmarks (pytorch/examples' ``--dataset fake``).

Images are not pure noise: each class has its own random template and every image is its class
template plus noise, so a clustering metric on fake data has something to find.
"""

from __future__ import annotations

import torch

from infogan.data.base import ImageData
from infogan.errors import DataError

NOISE_LEVEL = 48  # +-48 grey levels around the class template


def load_fake(shape: tuple[int, int, int] = (1, 28, 28), n: int = 512, seed: int = 0,
              num_classes: int = 10) -> ImageData:
    """Make ``n`` random labelled images; the same arguments always give the same tensors.

    Args:
        shape: (C, H, W) of one image.
        n: number of images.
        seed: random seed (a private ``torch.Generator``; the global RNG is untouched).
        num_classes: labels are 0..num_classes-1, balanced (each class appears n // num_classes
            or one more times) and shuffled.

    Returns:
        ImageData with images (n, C, H, W) uint8, labels (n,) int64, name "fake".

    Raises:
        DataError: non-positive sizes.
    """
    if len(shape) != 3 or any(int(s) < 1 for s in shape):
        raise DataError(f"fake data shape must be (C, H, W) with positive sizes, got {shape}")
    if n < 1 or num_classes < 1:
        raise DataError(f"fake data needs n >= 1 and num_classes >= 1, got n={n}, num_classes={num_classes}")
    gen = torch.Generator().manual_seed(seed)
    shape = tuple(int(s) for s in shape)
    templates = torch.randint(NOISE_LEVEL, 256 - NOISE_LEVEL, (num_classes, *shape), generator=gen)
    labels = torch.arange(n, dtype=torch.int64) % num_classes
    labels = labels[torch.randperm(n, generator=gen)]  # (n,)
    noise = torch.randint(-NOISE_LEVEL, NOISE_LEVEL + 1, (n, *shape), generator=gen)
    images = (templates[labels] + noise).clamp_(0, 255).to(torch.uint8)  # (n, C, H, W)
    return ImageData(images=images, labels=labels, name="fake")
