"""The InfoGAN objective on one page (Chen et al. 2016, eq. 5; the official openai/InfoGAN updates).

    min_{G,Q} max_D  V(D, G) - lambda * L_I(G, Q),   L_I = E[log Q(c | G(z, c))] + H(c) <= I(c; G(z, c))

Which optimiser updates which parameters (official openai/InfoGAN, the default here):

- **D's optimiser** (``lr_d``) updates D's trunk, D's head and Q's head. Its loss (:meth:`Objective.d_loss`)
  is the GAN D loss -[log D(x) + log(1 - D(G(z, c)))] plus ``sum_i lambda_i * -log Q(c_i | G(z, c))`` on the
  fake batch (``info_to_d``), so that Q's head and the shared trunk learn the posterior. G's output enters
  detached.
- **G's optimiser** (``lr_g``) updates G only (D is frozen while G's loss is differentiated). Its loss
  (:meth:`Objective.g_loss`) is the non-saturating -log D(G(z, c)) plus the same information term
  (``info_to_g``): G is rewarded for making c recoverable. With ``info_to_g=False`` this is the paper's
  Figure 1 baseline, a GAN with an attached Q.
- **Consistency term** (``consistency`` = W > 0, off in the paper; :mod:`infogan.training.augment`): both
  losses above also get ``W * sum_{i categorical} lambda_i * -log Q(c_i | T(G(z, c)))`` for a small random
  affine transform T, the same T in both phases, so that Q reads the categories under small pose changes
  and G is rewarded only for category information that survives them (``consistency_to_g=False``: in D's
  loss only). With ``consistency_real`` > 0, D's loss also asks Q to give a transformed real image the
  categories it gives the image itself (cross-entropy against its own detached posterior).

Every GAN term is computed from logits in fp32 (softplus) for numerical stability; log Q is fp32 too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from infogan.config import RunConfig
from infogan.latent.spec import Latent, LatentSpec
from infogan.training import augment

Images = torch.Tensor  # (B, C, H, W) in G's output range
Discriminator = Callable[[Images], tuple[torch.Tensor, torch.Tensor]]  # images -> (D logit (B,), Q output)


def d_loss(real_logit: torch.Tensor, fake_logit: torch.Tensor, *, eps: float = 0.0) -> torch.Tensor:
    """D's loss -[log D(x) + log(1 - D(G(z)))], from logits (B,): softplus for numerical stability, or with
    ``eps`` > 0 as -log(D + eps) on D = sigmoid(logit) (InfoGAN-CR's form)."""
    if eps:
        return _neg_log(torch.sigmoid(real_logit.float()), eps) + _neg_log(1 - torch.sigmoid(fake_logit.float()), eps)
    return F.softplus(-real_logit.float()).mean() + F.softplus(fake_logit.float()).mean()


def g_loss(fake_logit: torch.Tensor, *, eps: float = 0.0) -> torch.Tensor:
    """Non-saturating G loss -log D(G(z)) (Goodfellow et al. 2014; official InfoGAN); ``eps`` as in :func:`d_loss`."""
    if eps:
        return _neg_log(torch.sigmoid(fake_logit.float()), eps)
    return F.softplus(-fake_logit.float()).mean()


def _neg_log(p: torch.Tensor, eps: float) -> torch.Tensor:
    return -torch.log(p + eps).mean()


def info_loss(spec: LatentSpec, q_out: torch.Tensor, latent: Latent, *,
              categorical_only: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """The weighted information loss and the per-code lower bound.

    Args:
        spec: the latent spec.
        q_out: Q's output on G(z, c) (or on a transformed G(z, c)), (B, q_dim).
        latent: the z and c that produced the batch.
        categorical_only: leave the continuous codes out of the loss (the consistency term); the bound
            still covers every code.
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


@dataclass(frozen=True)
class Objective:
    """The two losses of one InfoGAN iteration, as functions of the networks and the batch.

    Attributes:
        spec: the latent spec (sizes, log Q, lambdas, H(c)).
        info_to_d: the information term in D's loss (trains Q's head and the shared trunk).
        info_to_g: the information term in G's loss (False: the Figure 1 baseline).
        consistency: weight W of the consistency term (0: off).
        rotation, scale, shift: the largest transform of the consistency term (degrees, relative zoom,
            fraction of the image side).
        consistency_to_g: the consistency term in G's loss too (else in D's only).
        consistency_real: weight of the real-image term: Q's categories of a transformed real image must
            match those of the image (cross-entropy against Q's own, detached, posterior), in D's loss.
        fill: the background of G's output range, for pixels a transform uncovers.
        loss_eps: 0 for the GAN losses from logits; > 0 for -log(D + eps) (see :func:`d_loss`).
        layout: the memory format D's inputs are given in (channels_last on CPUs and GPUs).
    """

    spec: LatentSpec
    info_to_d: bool = True
    info_to_g: bool = True
    consistency: float = 0.0
    rotation: float = 20.0
    scale: float = 0.1
    shift: float = 0.1
    consistency_to_g: bool = True
    consistency_real: float = 0.0
    fill: float = 0.0
    loss_eps: float = 0.0
    layout: torch.memory_format = torch.contiguous_format

    @classmethod
    def from_config(cls, config: RunConfig, *, layout: torch.memory_format = torch.contiguous_format) -> "Objective":
        """The objective a run config describes (``config.optim`` and the model's output range)."""
        opt = config.optim
        return cls(spec=config.model.latent, info_to_d=opt.info_to_d, info_to_g=opt.info_to_g,
                   consistency=opt.consistency, rotation=opt.consistency_rotation, scale=opt.consistency_scale,
                   shift=opt.consistency_shift, consistency_to_g=opt.consistency_to_g, consistency_real=opt.consistency_real,
                   fill=-1.0 if config.model.output == "tanh" else 0.0, loss_eps=opt.loss_eps, layout=layout)

    def transforms(self, batch: int, *, generator: torch.Generator,
                   device: torch.device) -> torch.Tensor | None:
        """This step's random affine transforms (B, 2, 3) for the consistency term; None when it is off."""
        if not (self.consistency or self.consistency_real) or not self.spec.categorical_indices:
            return None
        return augment.random_affine_theta(batch, rotation=self.rotation, scale=self.scale, shift=self.shift,
                                           generator=generator, device=device)

    def d_loss(self, D: Discriminator, real: Images, fake: Images, latent: Latent,
               theta: torch.Tensor | None, *, weight: float = 1.0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """D's loss on a real batch and a detached fake batch G(z, c) (the D phase).

        Args:
            weight: factor of the consistency terms this step (``consistency_warmup`` ramps it to 1).
        Returns:
            ``(loss, stats)``: stats are detached ``gan_d``, ``info`` (L_I per code, (L,)), ``d_real`` and
            ``d_fake`` (mean D outputs, as probabilities).
        """
        real_logit, q_real = D(real)
        target = self._categories(q_real) if theta is not None and self.consistency_real else None
        fake_logit, q_fake = D(fake)
        gan = d_loss(real_logit, fake_logit, eps=self.loss_eps)
        info, bound = info_loss(self.spec, q_fake, latent)
        loss = gan + info if self.info_to_d else gan
        if theta is not None and self.info_to_d and self.consistency:  # Q also recovers the categories of T(G(z, c))
            loss = loss + self.consistency * weight * self._moved_info(D, fake, latent, theta)
        if target is not None:  # and reads the same categories in a transformed real image as in the image
            loss = loss + self.consistency_real * weight * self._moved_real(D, real, target, theta)
        # read now: under CUDA graphs D's output buffers are reused by its next call
        stats = {"gan_d": gan.detach(), "info": bound, "d_real": torch.sigmoid(real_logit.detach().float()).mean(),
                 "d_fake": torch.sigmoid(fake_logit.detach().float()).mean()}
        return loss, stats

    def g_loss(self, D: Discriminator, fake: Images, latent: Latent,
               theta: torch.Tensor | None, *, weight: float = 1.0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """G's loss on the fake batch G(z, c), D frozen (the G phase); ``weight`` as in :meth:`d_loss`.

        Returns:
            ``(loss, stats)``: stats hold the detached ``gan_g``.
        """
        fake_logit, q_fake = D(fake)
        gan = g_loss(fake_logit, eps=self.loss_eps)
        info, _ = info_loss(self.spec, q_fake, latent)
        loss = gan + info if self.info_to_g else gan
        if theta is not None and self.info_to_g and self.consistency and self.consistency_to_g:  # robust categories
            loss = loss + self.consistency * weight * self._moved_info(D, fake, latent, theta)
        return loss, {"gan_g": gan.detach()}

    def _moved_info(self, D: Discriminator, images: Images, latent: Latent, theta: torch.Tensor) -> torch.Tensor:
        _, q_moved = D(self._moved(images, theta))  # (B, q_dim)
        return info_loss(self.spec, q_moved, latent, categorical_only=True)[0]

    def _moved(self, images: Images, theta: torch.Tensor) -> Images:
        return augment.apply_affine(images, theta, fill=self.fill).contiguous(memory_format=self.layout)

    def _categories(self, q_out: torch.Tensor) -> list[torch.Tensor]:
        """Q's category probabilities (B, K) per categorical code, detached: the targets of the real-image term."""
        chunks = self.spec.split_q(q_out.float())
        return [chunks[i].softmax(dim=1).detach() for i in self.spec.categorical_indices]

    def _moved_real(self, D: Discriminator, real: Images, target: list[torch.Tensor], theta: torch.Tensor) -> torch.Tensor:
        """sum_i lambda_i * cross-entropy(Q(c_i | x), Q(c_i | T(x))): Q's categories kept under the transforms."""
        _, q_moved = D(self._moved(real, theta))
        chunks = self.spec.split_q(q_moved.float())
        terms = [self.spec.codes[i].lambda_info * -(p * chunks[i].log_softmax(dim=1)).sum(dim=1).mean()
                 for p, i in zip(target, self.spec.categorical_indices)]
        return torch.stack(terms).sum()
