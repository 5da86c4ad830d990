"""The paper's MNIST architecture (Chen et al. 2016, Appendix C, Table 1).

D / Q trunk: conv64 s2 lReLU; conv128 s2 BN lReLU; FC1024 BN lReLU.  D head: FC1.
Q head: FC128 BN lReLU, FC out.  G: FC1024 BN ReLU; FC 7x7x128 BN ReLU; upconv64 s2 BN ReLU; upconv1 s2.
"""

from __future__ import annotations

from torch import nn

from infogan.config import ModelConfig
from infogan.models.base import Discriminator, InfoGAN
from infogan.models.layers import Reshape, conv, fc, output_activation, spectral, upconv


def build_mnist(cfg: ModelConfig) -> InfoGAN:
    """Build the Table 1 networks for 28x28 images (C channels; 1 for MNIST/Fashion-MNIST)."""
    c, h, w = cfg.image_shape
    slope, sn = cfg.leaky_slope, cfg.spectral_norm
    G = nn.Sequential(
        fc(cfg.latent.g_input_dim, 1024, bn=True, act="relu"),  # (B, 1024)
        fc(1024, 128 * 7 * 7, bn=True, act="relu"),  # (B, 6272)
        Reshape(128, 7, 7),  # (B, 128, 7, 7)
        upconv(128, 64, bn=True, act="relu"),  # (B, 64, 14, 14)
        upconv(64, c, bn=False, act="none"),  # (B, C, 28, 28)
        output_activation(cfg.output),
    )
    trunk = nn.Sequential(
        conv(c, 64, bn=False, slope=slope, sn=sn),  # (B, 64, 14, 14)
        conv(64, 128, bn=True, slope=slope, sn=sn),  # (B, 128, 7, 7)
        nn.Flatten(),  # (B, 6272)
        fc(128 * (h // 4) * (w // 4), 1024, bn=True, act="lrelu", slope=slope, sn=sn),  # (B, 1024)
    )
    d_head = spectral(nn.Linear(1024, 1), sn)  # (B, 1)
    q_head = nn.Sequential(
        fc(1024, 128, bn=True, act="lrelu", slope=slope),  # (B, 128)
        nn.Linear(128, cfg.latent.q_output_dim),  # (B, q_dim)
    )
    return InfoGAN(cfg, G, Discriminator(trunk, d_head, q_head))
