"""A soft bound on the pre-activations of G's output nonlinearity (``optim.g_logit_bound``).

On binary data G learns to output hard 0/1 pixels by driving the sigmoid's input far from 0 (to hundreds on
dSprites), where the sigmoid's derivative underflows: the pixels along a drawn outline then get no gradient
from D, and the outline cannot change. The penalty mean(relu(|a| - bound)^2) keeps the pre-activations a
near [-bound, bound] (sigmoid(8) = 0.99966: still binary to the eye and in 8 bits) so that gradients reach
the outline.
"""

from __future__ import annotations

import torch
from torch import nn

from infogan.errors import TrainingError


class OutputLogitBound:
    """Captures the input of G's last module (its sigmoid or tanh) at every G forward and penalises it.

    Args:
        G: the generator, an ``nn.Sequential`` whose last module is ``nn.Sigmoid`` or ``nn.Tanh``.
        bound: the pre-activation magnitude beyond which the penalty grows quadratically (> 0).
    """

    def __init__(self, G: nn.Module, bound: float) -> None:
        last = G[-1] if isinstance(G, nn.Sequential) and len(G) else None
        if not isinstance(last, (nn.Sigmoid, nn.Tanh)):
            raise TrainingError("g_logit_bound needs a generator whose last layer is a sigmoid or tanh; this "
                                "architecture has none: set optim.g_logit_bound=0")
        self.bound = float(bound)
        self._pre: torch.Tensor | None = None
        self._handle = last.register_forward_hook(self._capture)

    def _capture(self, module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        self._pre = inputs[0]  # (B, C, H, W): the pre-activations of the last G forward

    def penalty(self) -> torch.Tensor:
        """mean(relu(|a| - bound)^2) over the last G forward's pre-activations (a scalar, fp32)."""
        if self._pre is None:
            raise TrainingError("g_logit_bound: no G forward has been seen yet")
        return torch.relu(self._pre.float().abs() - self.bound).square().mean()

    def remove(self) -> None:
        """Detach the hook from G."""
        self._handle.remove()
