"""The paper's 3D Faces architecture (Chen et al. 2016, Appendix C, Table 4;
per-factor learning rates and lambdas in Table 5, see ``infogan.config.presets.paper``).

D / Q trunk: conv64 s2 lReLU; conv128 s2 BN lReLU; FC1024 BN lReLU.  D head: FC1.
Q head: FC out on the same 1024 features ("D and Q share everything; separate output units only"), so
unlike MNIST there is no FC128 layer in Q.
G: FC1024 BN ReLU; FC 8x8x128 BN ReLU; upconv64 s2 BN ReLU; upconv1 s2 sigmoid.
"""

from __future__ import annotations

from torch import nn

from infogan.config import ModelConfig
from infogan.errors import ConfigError
from infogan.models.base import Discriminator, InfoGAN
from infogan.models.layers import Reshape, conv, fc, output_activation, spectral, upconv

FACTOR = 4  # two stride-2 layers in G and in D


def build_faces(cfg: ModelConfig) -> InfoGAN:
    """Build the Table 4 networks for (C, H, W) images, H and W multiples of 4 (32 x 32 x 1 in the paper)."""
    c, h, w = cfg.image_shape
    if h % FACTOR or w % FACTOR:
        raise ConfigError(f"the faces architecture needs an image size that is a multiple of {FACTOR} "
                          f"(32 in the paper), got {h} x {w}")
    slope, sn = cfg.leaky_slope, cfg.spectral_norm
    h0, w0 = h // FACTOR, w // FACTOR  # 8 x 8 for 32 x 32 images
    G = nn.Sequential(
        fc(cfg.latent.g_input_dim, 1024, bn=True, act="relu"),  # (B, 1024)
        fc(1024, 128 * h0 * w0, bn=True, act="relu"),  # (B, 8192)
        Reshape(128, h0, w0),  # (B, 128, 8, 8)
        upconv(128, 64, bn=True, act="relu"),  # (B, 64, 16, 16)
        upconv(64, c, bn=False, act="none"),  # (B, C, 32, 32)
        output_activation(cfg.output),  # sigmoid in the paper: data in [0, 1]
    )
    trunk = nn.Sequential(
        conv(c, 64, bn=False, slope=slope, sn=sn),  # (B, 64, 16, 16)
        conv(64, 128, bn=True, slope=slope, sn=sn),  # (B, 128, 8, 8)
        nn.Flatten(),  # (B, 8192)
        fc(128 * h0 * w0, 1024, bn=True, act="lrelu", slope=slope, sn=sn),  # (B, 1024)
    )
    d_head = spectral(nn.Linear(1024, 1), sn)  # (B, 1)
    q_head = nn.Linear(1024, cfg.latent.q_output_dim)  # (B, q_dim): separate output units only
    return InfoGAN(cfg, G, Discriminator(trunk, d_head, q_head))
