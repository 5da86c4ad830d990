"""The paper's 3D Chairs architecture (Chen et al. 2016, Appendix C, Table 6;
per-factor learning rates and lambdas in Table 7, see ``infogan.config.presets.paper``).

D / Q trunk: conv64 s2 lReLU; conv128 s2 BN lReLU; conv256 s2 BN lReLU; conv256 BN lReLU;
conv256 BN lReLU; FC1024 BN lReLU.  D head: FC1.  Q head: FC out on the same 1024 features
("separate output units only": no FC128 layer).
G: FC1024 BN ReLU; FC 8x8x256 BN ReLU; upconv256 BN ReLU; upconv256 BN ReLU; upconv128 s2 BN ReLU;
upconv64 s2 BN ReLU; upconv1 s2 sigmoid.

Layers without "s2" have stride 1 and keep the spatial size. Every kernel is 4 x 4 (Appendix C), which is
even, so "same" padding is asymmetric, as in TensorFlow's padding="SAME" that the official code uses:
- D: ``layers.conv(..., stride=1)`` pads 1 before and 2 after (PyTorch ``padding="same"``).
- G: ``layers.upconv(stride=1)`` would swap in a 3 x 3 kernel (a 4 x 4 transposed conv with symmetric
  padding cannot keep the size). We keep the paper's 4 x 4 kernel instead: :func:`upconv_same` runs a
  4 x 4 transposed conv with padding 1 (size + 1) and drops the last row and column, which is exactly
  the adjoint of the 4 x 4 "same" conv, i.e. TensorFlow's ``conv2d_transpose(..., padding="SAME")``
  (tests/models/test_paper_architectures.py checks this).
"""

from __future__ import annotations

import torch
from torch import nn

from infogan.config import ModelConfig
from infogan.errors import ConfigError
from infogan.models.base import Discriminator, InfoGAN
from infogan.models.layers import Reshape, conv, fc, output_activation, spectral, upconv

FACTOR = 8  # three stride-2 layers in G and in D


class TrimLast(nn.Module):
    """(B, C, H + 1, W + 1) -> (B, C, H, W): drop the last row and column."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., :-1, :-1]


def upconv_same(cin: int, cout: int, *, bn: bool) -> nn.Sequential:
    """4 x 4 stride-1 transposed conv that keeps the size (TensorFlow "SAME") [-> BN] -> ReLU."""
    layers: list[nn.Module] = [nn.ConvTranspose2d(cin, cout, 4, stride=1, padding=1, bias=not bn), TrimLast()]
    if bn:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def build_chairs(cfg: ModelConfig) -> InfoGAN:
    """Build the Table 6 networks for (C, H, W) images, H and W multiples of 8 (64 x 64 x 1 in the paper)."""
    c, h, w = cfg.image_shape
    if h % FACTOR or w % FACTOR:
        raise ConfigError(f"the chairs architecture needs an image size that is a multiple of {FACTOR} "
                          f"(64 in the paper), got {h} x {w}")
    slope, sn = cfg.leaky_slope, cfg.spectral_norm
    h0, w0 = h // FACTOR, w // FACTOR  # 8 x 8 for 64 x 64 images
    G = nn.Sequential(
        fc(cfg.latent.g_input_dim, 1024, bn=True, act="relu"),  # (B, 1024)
        fc(1024, 256 * h0 * w0, bn=True, act="relu"),  # (B, 16384)
        Reshape(256, h0, w0),  # (B, 256, 8, 8)
        upconv_same(256, 256, bn=True),  # (B, 256, 8, 8)
        upconv_same(256, 256, bn=True),  # (B, 256, 8, 8)
        upconv(256, 128, bn=True, act="relu"),  # (B, 128, 16, 16)
        upconv(128, 64, bn=True, act="relu"),  # (B, 64, 32, 32)
        upconv(64, c, bn=False, act="none"),  # (B, C, 64, 64)
        output_activation(cfg.output),  # sigmoid in the paper: data in [0, 1]
    )
    trunk = nn.Sequential(
        conv(c, 64, bn=False, slope=slope, sn=sn),  # (B, 64, 32, 32)
        conv(64, 128, bn=True, slope=slope, sn=sn),  # (B, 128, 16, 16)
        conv(128, 256, bn=True, slope=slope, sn=sn),  # (B, 256, 8, 8)
        conv(256, 256, stride=1, bn=True, slope=slope, sn=sn),  # (B, 256, 8, 8)
        conv(256, 256, stride=1, bn=True, slope=slope, sn=sn),  # (B, 256, 8, 8)
        nn.Flatten(),  # (B, 16384)
        fc(256 * h0 * w0, 1024, bn=True, act="lrelu", slope=slope, sn=sn),  # (B, 1024)
    )
    d_head = spectral(nn.Linear(1024, 1), sn)  # (B, 1)
    q_head = nn.Linear(1024, cfg.latent.q_output_dim)  # (B, q_dim): separate output units only
    return InfoGAN(cfg, G, Discriminator(trunk, d_head, q_head))
