"""InfoGAN-CR's dSprites networks, layer for layer (Lin et al., ICML 2020; github.com/fjxmlzn/InfoGAN-CR).

Sources in InfoGAN-CR's released code: the classes ``Decoder`` and ``InfoGANDiscriminator`` of
``InfoGAN-CR_CdSprites/gan/network.py`` (``InfoGAN-CR_dSprites/gan_task.py`` builds the same two classes with
the same arguments: ``q_l_dim`` 128, ``output_length`` 5), the layer helpers ``linear``, ``conv2d``,
``deconv2d``, ``batch_norm`` and ``lrelu`` of ``gan/op.py`` (``InfoGAN-CR_3D_teapot``), and the spectral norm
``spectral_normed_weight`` of ``gan/sn.py`` (``InfoGAN-CR_CelebA``, taken from tf-SNDCGAN). What differs from
:mod:`infogan.models.dsprites` is listed in ``docs/results/dsprites/README.md``.

G:  FC128 ReLU BN; FC 4x4x64 ReLU BN; upconv64 s2 lReLU BN; upconv32 s2 lReLU BN; upconv32 s2 lReLU BN;
    upconv1 s2 sigmoid. Activation *before* batch norm, a bias on every layer.
D / Q trunk: conv32 s2 lReLU; conv32 s2 lReLU; conv64 s2 lReLU; conv64 s2 lReLU; FC128 lReLU.
D head: FC1.  Q head: FC128 lReLU; FC5 (the means; Q's std is fixed at 1 by the latent spec).
Spectral norm (when ``cfg.spectral_norm``) on every layer of the trunk, of D's head and of Q's head.
All 4x4 kernels, stride 2, TensorFlow "SAME" padding (1 pixel each side for these even sizes).

D's head returns a logit: their network applies the sigmoid itself and the loss takes -log(p + 1e-8); here the
sigmoid lives in :mod:`infogan.training.objective` (softplus of the logit, the same loss without the 1e-8).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

from infogan.config import ModelConfig
from infogan.models.base import Discriminator, InfoGAN
from infogan.models.dsprites import discriminator as dsprites_discriminator
from infogan.models.layers import Reshape, init_weights, output_activation
from infogan.models.spectral import PowerIterationSN
from infogan.models.spectral import power_iteration_sn as _sn

_INIT_STD = 0.02  # op.py: stddev=0.02 of linear, conv2d and deconv2d


def _layer(layer: nn.Module, act: nn.Module | None, bn: nn.Module | None = None) -> nn.Sequential:
    """One of their blocks: layer -> activation -> batch norm (op.py batch_norm: decay 0.9, eps 1e-5)."""
    return nn.Sequential(*[m for m in (layer, act, bn) if m is not None])


def generator(cfg: ModelConfig) -> nn.Sequential:
    """InfoGAN-CR's dSprites G (``Decoder``): (B, g_input_dim) -> (B, C, 64, 64)."""
    c, slope = cfg.image_shape[0], cfg.leaky_slope
    return nn.Sequential(
        _layer(nn.Linear(cfg.latent.g_input_dim, 128), nn.ReLU(), nn.BatchNorm1d(128)),  # (B, 128)
        _layer(nn.Linear(128, 64 * 4 * 4), nn.ReLU(), nn.BatchNorm1d(64 * 4 * 4)),  # (B, 1024)
        Reshape(64, 4, 4),  # (B, 64, 4, 4)
        _layer(nn.ConvTranspose2d(64, 64, 4, 2, 1), nn.LeakyReLU(slope), nn.BatchNorm2d(64)),  # (B, 64, 8, 8)
        _layer(nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.LeakyReLU(slope), nn.BatchNorm2d(32)),  # (B, 32, 16, 16)
        _layer(nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.LeakyReLU(slope), nn.BatchNorm2d(32)),  # (B, 32, 32, 32)
        _layer(nn.ConvTranspose2d(32, c, 4, 2, 1), None),  # (B, C, 64, 64)
        output_activation(cfg.output),
    )


def build_dsprites_cr_g(cfg: ModelConfig) -> InfoGAN:
    """InfoGAN-CR's G with the ``dsprites`` D and Q (architecture ``dsprites-cr-g``): which half of their
    networks makes the difference."""
    return InfoGAN(cfg, generator(cfg), dsprites_discriminator(cfg))


def build_dsprites_cr_g_maxpool(cfg: ModelConfig) -> InfoGAN:
    """InfoGAN-CR's G with the ``dsprites`` D and Q whose trunk also reads the maximum over positions of its last
    two convolutions (architecture ``dsprites-cr-g-maxpool``; see :mod:`infogan.models.dsprites`)."""
    return InfoGAN(cfg, generator(cfg), dsprites_discriminator(cfg, max_over_positions=True))


def build_dsprites_cr(cfg: ModelConfig) -> InfoGAN:
    """Build InfoGAN-CR's dSprites G, D and Q (C channels; 1 for dSprites, 64x64 images)."""
    c, h, w = cfg.image_shape
    slope, sn = cfg.leaky_slope, cfg.spectral_norm
    trunk = nn.Sequential(
        _layer(_sn(nn.Conv2d(c, 32, 4, 2, 1), sn), nn.LeakyReLU(slope)),  # (B, 32, 32, 32)
        _layer(_sn(nn.Conv2d(32, 32, 4, 2, 1), sn), nn.LeakyReLU(slope)),  # (B, 32, 16, 16)
        _layer(_sn(nn.Conv2d(32, 64, 4, 2, 1), sn), nn.LeakyReLU(slope)),  # (B, 64, 8, 8)
        _layer(_sn(nn.Conv2d(64, 64, 4, 2, 1), sn), nn.LeakyReLU(slope)),  # (B, 64, 4, 4)
        nn.Flatten(),  # (B, 1024)
        _layer(_sn(nn.Linear(64 * (h // 16) * (w // 16), 128), sn), nn.LeakyReLU(slope)),  # (B, 128)
    )
    d_head = _sn(nn.Linear(128, 1), sn)  # (B, 1) logit
    q_head = nn.Sequential(
        _layer(_sn(nn.Linear(128, 128), sn), nn.LeakyReLU(slope)),  # (B, 128)
        _sn(nn.Linear(128, cfg.latent.q_output_dim), sn),  # (B, q_dim)
    )
    return InfoGAN(cfg, generator(cfg), Discriminator(trunk, d_head, q_head))


def init_dsprites_cr_g(model: InfoGAN) -> None:
    """``dsprites-cr-g`` and ``dsprites-cr-g-maxpool``: their initialisation for G, the official InfoGAN code's
    for D and Q."""
    init_dsprites_cr(model.G)
    init_weights(model.D)


def init_dsprites_cr(module: nn.Module) -> None:
    """Their initialisation (op.py, sn.py, tf.contrib batch_norm defaults).

    conv2d weights: truncated normal, std 0.02, cut at 2 std; linear and deconv2d weights: normal, std 0.02;
    every bias 0; batch norm gamma 1, beta 0; spectral-norm ``u``: truncated normal, std 1.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            target = m.parametrizations.weight.original if parametrize.is_parametrized(m, "weight") else m.weight
            with torch.no_grad():
                if isinstance(m, nn.Conv2d):  # not ConvTranspose2d (a sibling class)
                    nn.init.trunc_normal_(target, 0.0, _INIT_STD, -2 * _INIT_STD, 2 * _INIT_STD)
                else:
                    nn.init.normal_(target, 0.0, _INIT_STD)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
            m.reset_running_stats()
        elif isinstance(m, PowerIterationSN):
            nn.init.trunc_normal_(m.u, 0.0, 1.0, -2.0, 2.0)
