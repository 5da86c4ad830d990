"""The in-memory dataset type shared by every loader, and the cache-folder rule.

Every loader returns an :class:`ImageData`: the whole split as one uint8 tensor, so that training samples
batches by indexing a tensor instead of running per-sample Python code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from infogan.errors import DataError

CACHE_ENV = "INFOGAN_DATA_DIR"


@dataclass(frozen=True)
class ImageData:
    """One split of a dataset, held in memory.

    Attributes:
        images: uint8 tensor (N, C, H, W), values 0..255.
        labels: int64 tensor (N,) of class labels, or None.
        factors: float tensor (N, F) of ground-truth factor values, or None (dSprites).
        factor_names: names of the F factor columns.
        name: dataset name, e.g. "mnist".
    """

    images: torch.Tensor
    labels: torch.Tensor | None = None
    factors: torch.Tensor | None = None
    factor_names: tuple[str, ...] = field(default_factory=tuple)
    name: str = ""

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise DataError(
                f"dataset {self.name!r}: images must be a uint8 tensor (N, C, H, W), "
                f"got {self.images.dtype} with shape {tuple(self.images.shape)}"
            )
        n = self.images.shape[0]
        if self.labels is not None and self.labels.shape[0] != n:
            raise DataError(f"dataset {self.name!r}: {n} images but {self.labels.shape[0]} labels")
        if self.factors is not None and self.factors.shape[0] != n:
            raise DataError(f"dataset {self.name!r}: {n} images but {self.factors.shape[0]} factor rows")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]


def default_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The folder datasets are cached in.

    Order: the explicit argument, then the ``INFOGAN_DATA_DIR`` environment variable, then
    ``$XDG_CACHE_HOME/infogan`` (``~/.cache/infogan``).
    """
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "infogan"
