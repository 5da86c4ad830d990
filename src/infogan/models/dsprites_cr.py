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
from infogan.models.layers import Reshape, output_activation

_SN_EPS = 1e-12  # sn.py: _l2normalize(v, eps=1e-12)
_INIT_STD = 0.02  # op.py: stddev=0.02 of linear, conv2d and deconv2d


class PowerIterationSN(nn.Module):
    """Spectral normalisation as in tf-SNDCGAN's ``spectral_normed_weight`` (InfoGAN-CR ``gan/sn.py``).

    ``W / sigma`` with sigma from one power iteration that starts at a stored output-side vector ``u`` (1, out).
    Unlike ``torch.nn.utils.parametrizations.spectral_norm``: gradients flow through the power iteration
    (theirs has no stop-gradient), ``u`` starts from a truncated normal with no warm-up iterations, and ``u``
    is stored after a training-mode call only while ``update`` is True (their ``u.assign`` runs once per
    training iteration, after the G steps; a trainer that does the same sets ``update`` off and calls
    :func:`spectral_norm_step` once per iteration).

    Args:
        out_features: the layer's output size (rows of the PyTorch weight).
    """

    def __init__(self, out_features: int) -> None:
        super().__init__()
        self.register_buffer("u", torch.empty(1, out_features))
        nn.init.trunc_normal_(self.u, 0.0, 1.0, -2.0, 2.0)  # tf.truncated_normal_initializer()
        self.update = True

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        with torch.autocast(weight.device.type, enabled=False):
            w = weight.float().reshape(weight.shape[0], -1)  # (out, fan_in); their (fan_in, out), transposed
            u = self.u.clone()  # (1, out)
            v = _l2normalize(u @ w)  # (1, fan_in)
            u_next = _l2normalize(v @ w.t())  # (1, out)
            sigma = (u_next @ w @ v.t()).squeeze()  # ()
            if self.training and self.update:
                self.u.copy_(u_next.detach())
            return (weight.float() / sigma).to(weight.dtype)


def _l2normalize(v: torch.Tensor) -> torch.Tensor:
    return v / (v.square().sum().sqrt() + _SN_EPS)


def _sn(layer: nn.Module, enabled: bool) -> nn.Module:
    if enabled:
        parametrize.register_parametrization(layer, "weight", PowerIterationSN(layer.weight.shape[0]))
    return layer


def _layer(layer: nn.Module, act: nn.Module | None, bn: nn.Module | None = None) -> nn.Sequential:
    """One of their blocks: layer -> activation -> batch norm (op.py batch_norm: decay 0.9, eps 1e-5)."""
    return nn.Sequential(*[m for m in (layer, act, bn) if m is not None])


def build_dsprites_cr(cfg: ModelConfig) -> InfoGAN:
    """Build InfoGAN-CR's dSprites G, D and Q (C channels; 1 for dSprites, 64x64 images)."""
    c, h, w = cfg.image_shape
    slope, sn = cfg.leaky_slope, cfg.spectral_norm
    lrelu = lambda: nn.LeakyReLU(slope)  # noqa: E731  (op.py lrelu, leak 0.2)
    G = nn.Sequential(
        _layer(nn.Linear(cfg.latent.g_input_dim, 128), nn.ReLU(), nn.BatchNorm1d(128)),  # (B, 128)
        _layer(nn.Linear(128, 64 * 4 * 4), nn.ReLU(), nn.BatchNorm1d(64 * 4 * 4)),  # (B, 1024)
        Reshape(64, 4, 4),  # (B, 64, 4, 4)
        _layer(nn.ConvTranspose2d(64, 64, 4, 2, 1), lrelu(), nn.BatchNorm2d(64)),  # (B, 64, 8, 8)
        _layer(nn.ConvTranspose2d(64, 32, 4, 2, 1), lrelu(), nn.BatchNorm2d(32)),  # (B, 32, 16, 16)
        _layer(nn.ConvTranspose2d(32, 32, 4, 2, 1), lrelu(), nn.BatchNorm2d(32)),  # (B, 32, 32, 32)
        _layer(nn.ConvTranspose2d(32, c, 4, 2, 1), None),  # (B, C, 64, 64)
        output_activation(cfg.output),
    )
    trunk = nn.Sequential(
        _layer(_sn(nn.Conv2d(c, 32, 4, 2, 1), sn), lrelu()),  # (B, 32, 32, 32)
        _layer(_sn(nn.Conv2d(32, 32, 4, 2, 1), sn), lrelu()),  # (B, 32, 16, 16)
        _layer(_sn(nn.Conv2d(32, 64, 4, 2, 1), sn), lrelu()),  # (B, 64, 8, 8)
        _layer(_sn(nn.Conv2d(64, 64, 4, 2, 1), sn), lrelu()),  # (B, 64, 4, 4)
        nn.Flatten(),  # (B, 1024)
        _layer(_sn(nn.Linear(64 * (h // 16) * (w // 16), 128), sn), lrelu()),  # (B, 128)
    )
    d_head = _sn(nn.Linear(128, 1), sn)  # (B, 1) logit
    q_head = nn.Sequential(
        _layer(_sn(nn.Linear(128, 128), sn), lrelu()),  # (B, 128)
        _sn(nn.Linear(128, cfg.latent.q_output_dim), sn),  # (B, q_dim)
    )
    return InfoGAN(cfg, G, Discriminator(trunk, d_head, q_head))


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


def set_spectral_norm_update(module: nn.Module, enabled: bool) -> None:
    """Store ``u`` after every training-mode forward (True, the default) or only in :func:`spectral_norm_step`."""
    for m in module.modules():
        if isinstance(m, PowerIterationSN):
            m.update = enabled


@torch.no_grad()
def spectral_norm_step(module: nn.Module) -> None:
    """One stored power iteration of every :class:`PowerIterationSN` (their ``spectral_norm_update_ops``)."""
    for m in module.modules():
        if parametrize.is_parametrized(m, "weight"):
            for p in m.parametrizations.weight:
                if isinstance(p, PowerIterationSN):
                    w = m.parametrizations.weight.original.float().reshape(p.u.shape[1], -1)  # (out, fan_in)
                    p.u.copy_(_l2normalize(_l2normalize(p.u @ w) @ w.t()))
