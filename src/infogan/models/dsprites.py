"""A 64x64 architecture for dSprites, after the modified InfoGAN of InfoGAN-CR (Lin et al., ICML 2020).

InfoGAN-CR's dSprites setup (their Sec. 5 and released config): 5 continuous codes + 5 noise dimensions, spectral normalisation in D,
Q's std fixed, lambda 0.05. The layer sizes below (conv 32-32-64-64, 4x4, stride 2; FC128) are those of
InfoGAN-CR's released code (github.com/fjxmlzn/InfoGAN-CR, ``gan/network.py``). Known differences
from it: there each layer applies its activation before batch norm (here batch norm, then the activation), G's
up-convolutions use leaky ReLU (here ReLU), and Q's two FC layers are spectrally normalised too (here not). The
full list is in docs/results/dsprites/README.md; :mod:`infogan.models.dsprites_cr` is their network itself.

G: FC128 BN ReLU; FC 4x4x64 BN ReLU; upconv64 s2 BN ReLU; upconv32 s2 BN ReLU; upconv32 s2 BN ReLU;
   upconv1 s2 sigmoid.
D / Q trunk: conv32 s2 lReLU; conv32 s2 lReLU; conv64 s2 lReLU; conv64 s2 lReLU; FC128 lReLU (spectral norm on
   every layer when ``spectral_norm``; no batch norm in D, which spectral norm replaces).
D head: FC1.  Q head: FC128 lReLU, FC out.

Architecture ``dsprites-coord`` (beyond InfoGAN-CR): the same networks, but each of G's four up-convolutions
also sees two coordinate channels, the pixel's column and row (CoordConv, Liu et al., NeurIPS 2018, who show
that transposed convolutions learn slowly to draw at a position given as numbers).

Architecture ``dsprites-broadcast`` (beyond InfoGAN-CR): D and Q unchanged; G after the spatial broadcast
decoder (Watters et al., 2019): FC128 BN ReLU; the 128 values copied to every cell of a 16x16 grid with its
column and row (130 channels); conv64 s1 BN ReLU; conv64 s1 BN ReLU; upconv32 s2 BN ReLU; upconv1 s2 sigmoid.
Each cell then knows where it is, so drawing a sprite at a position is a local computation.

Architecture ``dsprites-mbstd`` (beyond InfoGAN-CR): the ``dsprites`` networks, but D's head also sees the
minibatch standard deviation of the trunk's features (Karras et al., ICLR 2018; groups of 4), so that D can
tell a batch of near-identical samples from real data. Q's head does not see it: Q reads each image alone.

Architecture ``dsprites-cr-g-maxpool`` (beyond InfoGAN-CR): InfoGAN-CR's G
(:func:`infogan.models.dsprites_cr.generator`) with this D and Q, whose trunk's 128 features are followed by the
maximum over positions of each channel of conv3 (64, over 8x8) and conv4 (64, over 4x4): 256 features for D's and
Q's heads. A trunk that ends in a flatten and a fully connected layer must learn a shape anew at each place; the
maxima read it wherever the sprite is (measured by ``benchmarks/dsprites_d_shape.py``; results in
docs/results/dsprites/README.md).
"""

from __future__ import annotations

from torch import nn

from infogan.config import ModelConfig
from infogan.models.base import Discriminator, InfoGAN
from infogan.models.layers import (
    AddCoords,
    Broadcast,
    MaxOverPositions,
    MinibatchStd,
    Reshape,
    conv,
    fc,
    output_activation,
    spectral,
    upconv,
)


def build_dsprites(cfg: ModelConfig, *, coords: bool = False, mbstd: bool = False) -> InfoGAN:
    """Build the 64x64 dSprites networks (C channels; 1 for dSprites); ``coords``: G's up-convolutions also
    see the pixel coordinates (``dsprites-coord``); ``mbstd``: D's head sees the minibatch standard deviation
    (``dsprites-mbstd``)."""
    c = cfg.image_shape[0]

    def up(cin: int, cout: int, **kw) -> nn.Sequential:  # (B, cin, S, S) -> (B, cout, 2S, 2S)
        return nn.Sequential(AddCoords(), *upconv(cin + 2, cout, **kw)) if coords else upconv(cin, cout, **kw)

    G = nn.Sequential(
        fc(cfg.latent.g_input_dim, 128, bn=True, act="relu"),  # (B, 128)
        fc(128, 64 * 4 * 4, bn=True, act="relu"),  # (B, 1024)
        Reshape(64, 4, 4),  # (B, 64, 4, 4)
        up(64, 64, bn=True, act="relu"),  # (B, 64, 8, 8)
        up(64, 32, bn=True, act="relu"),  # (B, 32, 16, 16)
        up(32, 32, bn=True, act="relu"),  # (B, 32, 32, 32)
        up(32, c, bn=False, act="none"),  # (B, C, 64, 64)
        output_activation(cfg.output),
    )
    return InfoGAN(cfg, G, discriminator(cfg, mbstd=mbstd))


def build_dsprites_broadcast(cfg: ModelConfig) -> InfoGAN:
    """Build the ``dsprites-broadcast`` networks: a spatial-broadcast G, the ``dsprites`` D and Q."""
    c = cfg.image_shape[0]
    G = nn.Sequential(
        fc(cfg.latent.g_input_dim, 128, bn=True, act="relu"),  # (B, 128)
        Broadcast(16),  # (B, 130, 16, 16)
        upconv(130, 64, stride=1, bn=True, act="relu"),  # (B, 64, 16, 16); 3x3, the same as a stride-1 conv
        upconv(64, 64, stride=1, bn=True, act="relu"),  # (B, 64, 16, 16)
        upconv(64, 32, bn=True, act="relu"),  # (B, 32, 32, 32)
        upconv(32, c, bn=False, act="none"),  # (B, C, 64, 64)
        output_activation(cfg.output),
    )
    return InfoGAN(cfg, G, discriminator(cfg))


def discriminator(cfg: ModelConfig, *, mbstd: bool = False, max_over_positions: bool = False) -> Discriminator:
    """The ``dsprites`` D's trunk and head and Q's head, shared by the architectures that change only G;
    ``max_over_positions``: the trunk's features also hold the maximum over positions of each channel of its last
    two convolutions (:class:`~infogan.models.layers.MaxOverPositions`), which D's and Q's heads both read."""
    c, h, w = cfg.image_shape
    slope, sn = cfg.leaky_slope, cfg.spectral_norm
    convs = (
        conv(c, 32, bn=False, slope=slope, sn=sn),  # (B, 32, 32, 32)
        conv(32, 32, bn=False, slope=slope, sn=sn),  # (B, 32, 16, 16)
        conv(32, 64, bn=False, slope=slope, sn=sn),  # (B, 64, 8, 8)
        conv(64, 64, bn=False, slope=slope, sn=sn),  # (B, 64, 4, 4)
    )
    head = fc(64 * (h // 16) * (w // 16), 128, bn=False, act="lrelu", slope=slope, sn=sn)  # (B, 1024) -> (B, 128)
    if max_over_positions:
        trunk, features = MaxOverPositions(nn.Sequential(*convs), head, taps=2), 128 + 64 + 64  # (B, 256)
    else:
        trunk, features = nn.Sequential(*convs, nn.Flatten(), head), 128  # (B, 128)
    # (B, features) -> (B, 1); with mbstd through (B, features + 1), the minibatch std appended
    d_head = (nn.Sequential(MinibatchStd(), spectral(nn.Linear(features + 1, 1), sn)) if mbstd
              else spectral(nn.Linear(features, 1), sn))
    q_head = nn.Sequential(
        fc(features, 128, bn=False, act="lrelu", slope=slope),  # (B, 128)
        nn.Linear(128, cfg.latent.q_output_dim),  # (B, q_dim)
    )
    return Discriminator(trunk, d_head, q_head)
