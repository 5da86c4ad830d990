"""Adversarial and information losses, as functions of network outputs.

Which optimiser updates which parameters (official openai/InfoGAN, the default here):
- D's optimiser (``lr_d``) updates D's trunk, D's head and Q's head. Its loss is the GAN D loss plus
  ``lambda * -log Q(c|G(z,c))`` on the fake batch (``info_to_d``): so Q's head and the shared trunk learn
  the posterior.
- G's optimiser (``lr_g``) updates G only. Its loss is the non-saturating GAN loss plus the same
  information term (``info_to_g``): G is rewarded for making c recoverable. With ``info_to_g=False`` this
  is the paper's Figure 1 baseline (a GAN with an attached Q).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from infogan.latent.spec import Latent, LatentSpec


def d_loss(real_logit: torch.Tensor, fake_logit: torch.Tensor) -> torch.Tensor:
    """D's loss -[log D(x) + log(1 - D(G(z)))], from logits (B,) for numerical stability."""
    return F.softplus(-real_logit.float()).mean() + F.softplus(fake_logit.float()).mean()


def g_loss(fake_logit: torch.Tensor) -> torch.Tensor:
    """Non-saturating G loss -log D(G(z)) (Goodfellow et al. 2014; official InfoGAN)."""
    return F.softplus(-fake_logit.float()).mean()


def info_loss(spec: LatentSpec, q_out: torch.Tensor, latent: Latent, *,
              categorical_only: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """The weighted information loss and the per-code lower bound.

    Args:
        spec: the latent spec.
        q_out: Q's output on G(z, c) (or on a transformed G(z, c)), (B, q_dim).
        latent: the z and c that produced the batch.
        categorical_only: leave the continuous codes out of the loss (the transform-consistency term,
            :mod:`infogan.augment`); the bound still covers every code.
    Returns:
        ``(loss, bound)``: loss = -sum_i lambda_i * E[log Q(c_i|x)] (scalar, to minimise), and
        bound = E[log Q(c_i|x)] + H(c_i) per code (L,), detached: the paper's L_I in nats.
    """
    if not spec.codes:
        zero = q_out.sum() * 0.0
        return zero, torch.zeros(0, device=q_out.device)
    mean_log_q = spec.log_q(q_out, latent.codes).mean(dim=0)  # (L,)
    lambdas = spec.lambdas().to(q_out.device)
    if categorical_only:
        keep = torch.zeros_like(lambdas)
        keep[spec.categorical_indices] = 1.0
        lambdas = lambdas * keep
    loss = -(lambdas * mean_log_q).sum()
    bound = mean_log_q.detach() + spec.entropies().to(q_out.device)
    return loss, bound
