"""Real batches from the resident training split: uniformly with replacement, or epoch by epoch.

The whole split lives on the device as one uint8 tensor, so a batch is one gather (no per-sample Python
loading). ``sampling="uniform"`` draws every batch independently with replacement; ``"epoch"`` walks a
fresh random permutation of the split, every image once per epoch (InfoGAN-CR's code shuffles so, dropping
the last incomplete batch). The epoch order is part of the resume state, so a resumed run continues it.
"""

from __future__ import annotations

import torch

from infogan.errors import CheckpointError


class BatchSource:
    """Index batches into the resident split.

    Args:
        size: images in the split (N).
        generator: the run's data generator (on the split's device).
        sampling: "uniform" or "epoch".
    """

    def __init__(self, size: int, generator: torch.Generator, *, sampling: str = "uniform") -> None:
        self.size, self.generator, self.sampling = size, generator, sampling
        self.order: torch.Tensor | None = None  # (N,) this epoch's permutation ("epoch" sampling)
        self.position = 0

    def indices(self, batch: int) -> torch.Tensor:
        """(batch,) int64 indices of the next batch."""
        device = self.generator.device
        if self.sampling == "uniform":
            return torch.randint(self.size, (batch,), generator=self.generator, device=device)
        if batch > self.size:
            raise CheckpointError(f"batch {batch} is larger than the {self.size} training images: epoch "
                                  "sampling needs at least one full batch per epoch; use a smaller --batch-size "
                                  "or draw with replacement (--set train.sampling=uniform)")
        if self.order is None or self.position + batch > self.size:  # a new epoch; the remainder is dropped
            self.order = torch.randperm(self.size, generator=self.generator, device=device)
            self.position = 0
        out = self.order[self.position:self.position + batch]
        self.position += batch
        return out

    def state(self) -> dict:
        """The epoch order and position (empty for uniform sampling, whose state is the generator's)."""
        if self.sampling == "uniform" or self.order is None:
            return {}
        return {"order": self.order.to(torch.int32).cpu(), "position": self.position}

    def load_state(self, state: dict) -> None:
        """Continue the epoch of a resume state (nothing to do for uniform sampling)."""
        if self.sampling == "uniform" or not state:
            return
        order, position = state.get("order"), state.get("position")
        if not (isinstance(order, torch.Tensor) and order.shape == (self.size,) and isinstance(position, int)
                and 0 <= position <= self.size):
            raise CheckpointError(f"the resume state's epoch order does not fit {self.size} training images; "
                                  "resume with the data the run was trained on")
        self.order = order.to(device=self.generator.device, dtype=torch.int64)
        self.position = position
