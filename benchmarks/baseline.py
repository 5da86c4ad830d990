"""The slow-port baseline: the same networks and losses, trained the way most InfoGAN ports do it.

Every speed-up in ``throughput.py`` is quoted as a ratio against this loop, measured in the same run.
What it does differently from :class:`infogan.training.Trainer` (each is a common pattern in public
PyTorch ports; the mathematics of one iteration is the same, see ``tests/runtime/test_fast_path.py``):

- data: a per-sample ``Dataset`` that turns each uint8 image into a PIL image and back into a float
  tensor in Python (torchvision's ``ToTensor`` pattern), batched by a ``DataLoader`` (shuffle, no workers);
- fp32, eager, NCHW memory layout; Adam with its default per-tensor loop (no ``foreach``/``fused``);
- ``zero_grad(set_to_none=False)``: gradient buffers are zero-filled every step (pre-2.0 default);
- separate forward passes: G runs once for the D phase and again for the G phase;
- D is not frozen in the G phase, so the G-phase backward also computes (unused) D weight gradients;
- a host synchronisation per step: every loss is read with ``.item()`` for logging.

The one-iteration losses equal the fast path's (same batch, same latent, same weights); the only state
difference is that G's batch-norm running statistics are updated twice per step instead of once.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from infogan.config import RunConfig
from infogan.latent.spec import Latent
from infogan.models import InfoGAN, build_model
from infogan.training import objective as losses


class PerSampleImages(Dataset):
    """uint8 images (N, C, H, W) served one at a time through PIL, as ``ToTensor`` does.

    Args:
        images: the uint8 tensor of the split.
        output: "sigmoid" (float in [0, 1]) or "tanh" (float in [-1, 1]), matching G's output range.
    """

    def __init__(self, images: torch.Tensor, output: str) -> None:
        self.images = images.numpy()  # (N, C, H, W) uint8
        self.tanh = output == "tanh"

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        array = self.images[index]  # (C, H, W)
        image = Image.fromarray(array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0))
        x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0)  # (H, W) or (H, W, C)
        x = x.unsqueeze(0) if x.ndim == 2 else x.permute(2, 0, 1)  # (C, H, W)
        return x * 2.0 - 1.0 if self.tanh else x


class SlowPortTrainer:
    """The baseline loop over the networks of ``config.model``.

    Args:
        config: the run config (model, optimiser settings, batch size, seed).
        images: uint8 training images (N, C, H, W) on the CPU.
        model: networks to train (built from the config with its seed when None).
    """

    def __init__(self, config: RunConfig, images: torch.Tensor, *, model: InfoGAN | None = None) -> None:
        self.config = config
        torch.manual_seed(config.train.seed)
        self.model = model if model is not None else build_model(config.model)
        self.model.train()
        opt = config.optim
        # the constructor defaults of most ports: per-tensor Adam loop on the CPU
        self.opt_d = torch.optim.Adam(self.model.D.parameters(), lr=opt.lr_d, betas=(opt.beta1, opt.beta2),
                                      foreach=False)
        self.opt_g = torch.optim.Adam(self.model.G.parameters(), lr=opt.lr_g, betas=(opt.beta1, opt.beta2),
                                      foreach=False)
        self.loader = DataLoader(PerSampleImages(images, config.model.output), batch_size=config.train.batch_size,
                                 shuffle=True, drop_last=True, num_workers=0,
                                 generator=torch.Generator().manual_seed(config.train.seed))
        self._batches: Iterator[torch.Tensor] = iter(())
        self.history: list[dict[str, float]] = []

    def next_batch(self) -> torch.Tensor:
        """The next (B, C, H, W) float batch; a new shuffled epoch when the last one is used up."""
        try:
            return next(self._batches)
        except StopIteration:
            self._batches = iter(self.loader)
            return next(self._batches)

    def train_step(self, real: torch.Tensor | None = None, latent: Latent | None = None) -> dict[str, float]:
        """One D step then one G step, port style; returns the losses as Python floats (host sync).

        Args:
            real: a real batch in G's output range (drawn from the loader when None).
            latent: the z and c of the step (drawn from the prior when None).
        """
        spec, opt, G, D = self.model.spec, self.config.optim, self.model.G, self.model.D
        real = self.next_batch() if real is None else real
        if latent is None:
            latent = spec.sample(real.shape[0])

        # D phase: a G forward of its own; D on real and on the detached fakes.
        fake = G(spec.g_input(latent.z, latent.codes))  # (B, C, H, W)
        real_logit, _ = D(real)
        fake_logit, q_fake = D(fake.detach())
        gan_d = losses.d_loss(real_logit, fake_logit)
        info_d, _ = losses.info_loss(spec, q_fake, latent)
        loss_d = gan_d + info_d if opt.info_to_d else gan_d
        self.opt_d.zero_grad(set_to_none=False)
        loss_d.backward()
        self.opt_d.step()

        # G phase: G runs again on the same z, c; D is left trainable (its gradients are computed, then unused).
        fake = G(spec.g_input(latent.z, latent.codes))
        fake_logit_g, q_fake_g = D(fake)
        gan_g = losses.g_loss(fake_logit_g)
        info_g, bound = losses.info_loss(spec, q_fake_g, latent)
        loss_g = gan_g + info_g if opt.info_to_g else gan_g
        self.opt_g.zero_grad(set_to_none=False)
        loss_g.backward()
        self.opt_g.step()

        record = {"loss_d": loss_d.item(), "loss_g": loss_g.item(), "gan_d": gan_d.item(),
                  "gan_g": gan_g.item(), **{f"L_I/c{i + 1}": v for i, v in enumerate(bound.tolist())}}
        self.history.append(record)  # per-step logging: the host sync most ports do
        return record
