"""Spectral normalisation with one stored power iteration, as tf-SNDCGAN's ``spectral_normed_weight``
(used by InfoGAN-CR, ``gan/sn.py``), and the switch that advances it once per training iteration.

PyTorch's ``torch.nn.utils.parametrizations.spectral_norm`` (used by the other architectures) advances its
power iteration at every training-mode forward and stops gradients through it; this one lets gradients flow
through the iteration, and with :func:`set_spectral_norm_update` off it advances only when the trainer calls
:func:`spectral_norm_step` (``OptimConfig.sn_update = "per_iteration"``).
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn
from torch.nn.utils import parametrize

_SN_EPS = 1e-12  # sn.py: _l2normalize(v, eps=1e-12)


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
        # (no autocast on the meta device, where a model is built only to read its tensors' shapes)
        with contextlib.nullcontext() if weight.is_meta else torch.autocast(weight.device.type, enabled=False):
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


def power_iteration_sn(layer: nn.Module, enabled: bool = True) -> nn.Module:
    """``layer`` with its weight spectrally normalised by :class:`PowerIterationSN` (unchanged when not ``enabled``)."""
    if enabled:
        parametrize.register_parametrization(layer, "weight", PowerIterationSN(layer.weight.shape[0]))
    return layer


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


def has_power_iteration_sn(module: nn.Module) -> bool:
    """Whether ``module`` holds any :class:`PowerIterationSN` (the layers ``sn_update`` applies to)."""
    return any(isinstance(m, PowerIterationSN) for m in module.modules())
