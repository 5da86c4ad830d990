"""The paper's SVHN architecture, also used for CelebA (Chen et al. 2016, Appendix C, Tables 2 and 3).

D / Q trunk: conv64 s2 lReLU; conv128 s2 BN lReLU; conv256 s2 BN lReLU.  D head: FC1.
Q head: FC128 BN lReLU, FC out.
G: FC 2x2x448 BN ReLU; upconv256 s2 BN ReLU; upconv128 s2 ReLU; upconv64 s2 ReLU; upconv3 s2 tanh.

The two middle upconvs have no batch norm in the table (only the first one does); we follow the table, so
those layers keep their bias. The paper prints the CelebA table (Table 3) with the caption "SVHN"; the layers are
the same, only G's input size differs (SVHN 168, CelebA 228), and that comes from the latent spec.
"""

from __future__ import annotations

from torch import nn

from infogan.config import ModelConfig
from infogan.errors import ConfigError
from infogan.models.base import Discriminator, InfoGAN
from infogan.models.layers import Reshape, conv, fc, output_activation, spectral, upconv

FACTOR = 16  # G doubles the size four times from its 2 x 2 start; D halves it three times


def build_svhn(cfg: ModelConfig) -> InfoGAN:
    """Build the Table 2 networks for (C, H, W) images, H and W multiples of 16 (32 x 32 x 3 in the paper)."""
    c, h, w = cfg.image_shape
    if h % FACTOR or w % FACTOR:
        raise ConfigError(f"the svhn architecture needs an image size that is a multiple of {FACTOR} "
                          f"(32 in the paper), got {h} x {w}")
    slope, sn = cfg.leaky_slope, cfg.spectral_norm
    h0, w0 = h // FACTOR, w // FACTOR  # 2 x 2 for 32 x 32 images
    G = nn.Sequential(
        fc(cfg.latent.g_input_dim, 448 * h0 * w0, bn=True, act="relu"),  # (B, 1792)
        Reshape(448, h0, w0),  # (B, 448, 2, 2)
        upconv(448, 256, bn=True, act="relu"),  # (B, 256, 4, 4)
        upconv(256, 128, bn=False, act="relu"),  # (B, 128, 8, 8); no BN in Table 2
        upconv(128, 64, bn=False, act="relu"),  # (B, 64, 16, 16); no BN in Table 2
        upconv(64, c, bn=False, act="none"),  # (B, C, 32, 32)
        output_activation(cfg.output),  # tanh in the paper: data in [-1, 1]
    )
    features = 256 * (h // 8) * (w // 8)  # 4096 for 32 x 32 images
    trunk = nn.Sequential(
        conv(c, 64, bn=False, slope=slope, sn=sn),  # (B, 64, 16, 16)
        conv(64, 128, bn=True, slope=slope, sn=sn),  # (B, 128, 8, 8)
        conv(128, 256, bn=True, slope=slope, sn=sn),  # (B, 256, 4, 4)
        nn.Flatten(),  # (B, 4096)
    )
    d_head = spectral(nn.Linear(features, 1), sn)  # (B, 1)
    q_head = nn.Sequential(
        fc(features, 128, bn=True, act="lrelu", slope=slope),  # (B, 128)
        nn.Linear(128, cfg.latent.q_output_dim),  # (B, q_dim)
    )
    return InfoGAN(cfg, G, Discriminator(trunk, d_head, q_head))
