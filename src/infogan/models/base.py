"""The network container shared by every architecture: G, and D whose trunk also feeds Q's head."""

from __future__ import annotations

import torch
from torch import nn

from infogan.config import ModelConfig


class Discriminator(nn.Module):
    """D and Q: a shared trunk, D's real/fake logit and Q's code-posterior parameters.

    Args:
        trunk: images (B, C, H, W) -> features (B, F).
        d_head: features -> (B, 1) logit.
        q_head: features -> (B, q_output_dim).
    """

    def __init__(self, trunk: nn.Module, d_head: nn.Module, q_head: nn.Module) -> None:
        super().__init__()
        self.trunk = trunk
        self.d_head = d_head
        self.q_head = q_head

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(x)  # (B, F)
        return self.d_head(h).squeeze(1), self.q_head(h)  # (B,), (B, q_dim)


class InfoGAN(nn.Module):
    """G and D (with Q) built from a :class:`ModelConfig`.

    Attributes:
        config: the model config (architecture, latent spec, image shape).
        G: generator, (B, g_input_dim) -> images (B, C, H, W) in the output range.
        D: :class:`Discriminator`, images -> (D logit (B,), Q output (B, q_dim)).
    """

    def __init__(self, config: ModelConfig, G: nn.Module, D: Discriminator) -> None:
        super().__init__()
        self.config = config
        self.G = G
        self.D = D

    @property
    def spec(self):
        return self.config.latent

    def parameter_counts(self) -> dict[str, int]:
        """Trainable parameters of G, D's trunk + head, and Q's head."""
        count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
        return {"G": count(self.G), "D_trunk": count(self.D.trunk), "D_head": count(self.D.d_head),
                "Q_head": count(self.D.q_head)}
