"""Fidelity of the ``dsprites-cr`` architecture and preset against InfoGAN-CR's released dSprites code.

The layer lists below are transcribed from ``Decoder`` and ``InfoGANDiscriminator`` of InfoGAN-CR's
``gan/network.py`` (github.com/fjxmlzn/InfoGAN-CR), in their order: layer, activation, batch norm; "SN" marks
a spectrally normalised layer (``sn_op``). Parameter counts are derived by hand from those lists (4x4
kernels, a bias on every layer, batch norm gamma and beta).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from layer_lists import describe, shapes
from torch import nn
from torch.nn.utils import parametrize

import infogan
from infogan.config.presets import apply_schedule, get_preset
from infogan.latent.spec import Continuous
from infogan.models import build_model
from infogan.models.spectral import (
    PowerIterationSN,
    set_spectral_norm_update,
    spectral_norm_step,
)
from infogan.snapshot import save_snapshot

THEIR_G = ["FC128 ReLU BN", "FC1024 ReLU BN", "upconv64 s2 lReLU BN", "upconv32 s2 lReLU BN", "upconv32 s2 lReLU BN",
           "upconv1 s2 sigmoid"]
THEIR_G_SHAPES = [(128,), (1024,), (64, 4, 4), (64, 8, 8), (32, 16, 16), (32, 32, 32), (1, 64, 64), (1, 64, 64)]
THEIR_TRUNK = ["conv32 s2 SN lReLU", "conv32 s2 SN lReLU", "conv64 s2 SN lReLU", "conv64 s2 SN lReLU", "FC128 SN lReLU"]
THEIR_TRUNK_SHAPES = [(32, 32, 32), (32, 16, 16), (64, 8, 8), (64, 4, 4), (1024,), (128,)]
THEIR_D_HEAD = ["FC1 SN"]
THEIR_Q_HEAD = ["FC128 SN lReLU", "FC5 SN"]


def fc(i: int, o: int, bn: bool = False) -> int:
    return i * o + o + (2 * o if bn else 0)  # a bias on every layer, even in front of BN


def conv(i: int, o: int, bn: bool = False) -> int:
    return 16 * i * o + o + (2 * o if bn else 0)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(get_preset("dsprites-cr").model)


def test_layer_lists_match_their_network(model):
    assert describe(model.G) == THEIR_G
    assert describe(model.D.trunk) == THEIR_TRUNK
    assert describe(model.D.d_head) == THEIR_D_HEAD
    assert describe(model.D.q_head) == THEIR_Q_HEAD


def test_kernels_strides_padding_bias_and_slopes(model):
    convs = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert len(convs) == 8
    for m in convs:  # 4x4, stride 2, TensorFlow "SAME" = 1 pixel each side at these even sizes
        assert (m.kernel_size, m.stride, m.padding, m.output_padding if isinstance(m, nn.ConvTranspose2d)
                else (0, 0)) == ((4, 4), (2, 2), (1, 1), (0, 0))
    assert all(m.bias is not None for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)))
    assert {m.negative_slope for m in model.modules() if isinstance(m, nn.LeakyReLU)} == {0.2}
    bns = [m for m in model.G.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    assert len(bns) == 5 and all(m.eps == 1e-5 and m.momentum == pytest.approx(0.1) for m in bns)  # decay 0.9
    assert not any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in model.D.modules())


def test_spectral_norm_on_every_d_and_q_layer_and_none_in_g(model):
    d_layers = [m for m in model.D.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    assert len(d_layers) == 8  # 4 conv + FC128 (trunk), FC1 (D), FC128 + FC5 (Q)
    for m in d_layers:
        (p,) = m.parametrizations.weight
        assert isinstance(p, PowerIterationSN) and p.u.shape == (1, m.weight.shape[0])
    assert not any(parametrize.is_parametrized(m) for m in model.G.modules())
    plain = build_model(get_preset("dsprites-cr").replace(model={"spectral_norm": False}).model)
    assert not any(parametrize.is_parametrized(m) for m in plain.modules())


def test_output_shapes(model):
    model.eval()
    with torch.no_grad():
        z = torch.rand(3, 10) * 2 - 1
        assert shapes(model.G, z) == THEIR_G_SHAPES
        x = model.G(z)
        assert float(x.min()) >= 0 and float(x.max()) <= 1  # sigmoid
        assert shapes(model.D.trunk, x) == THEIR_TRUNK_SHAPES
        d, q = model.D(x)
    assert d.shape == (3,) and q.shape == (3, 5)


def test_parameter_counts(model):
    expected = {"G": fc(10, 128, True) + fc(128, 1024, True) + conv(64, 64, True) + conv(64, 32, True)
                + conv(32, 32, True) + conv(32, 1),
                "D_trunk": conv(1, 32) + conv(32, 32) + conv(32, 64) + conv(64, 64) + fc(1024, 128),
                "D_head": fc(128, 1), "Q_head": fc(128, 128) + fc(128, 5)}
    assert model.parameter_counts() == expected
    # written out: G = (10*128+128 + 256) + (128*1024+1024 + 2048) + (16*64*64+64 + 128) + (16*64*32+32 + 64)
    #                  + (16*32*32+32 + 64) + (16*32+1)
    assert expected == {"G": 251_393, "D_trunk": 246_592, "D_head": 129, "Q_head": 17_157}


def test_initialisation_is_theirs():
    torch.manual_seed(1)
    m = build_model(get_preset("dsprites-cr").model)
    conv_w = torch.cat([c.parametrizations.weight.original.detach().flatten() for c in m.D.trunk.modules()
                        if isinstance(c, nn.Conv2d)])
    assert float(conv_w.abs().max()) <= 0.04  # conv2d: truncated normal, cut at 2 std
    assert float(conv_w.std()) == pytest.approx(0.02 * 0.8796, rel=0.03)  # std of N(0, 1) cut at +-2
    normal_w = torch.cat([c.weight.detach().flatten() for c in m.G.modules()
                          if isinstance(c, (nn.Linear, nn.ConvTranspose2d))])
    assert float(normal_w.std()) == pytest.approx(0.02, rel=0.03) and float(normal_w.abs().max()) > 0.06
    biases = [c.bias for c in m.modules() if isinstance(c, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d))]
    assert all(float(b.detach().abs().max()) == 0 for b in biases)
    bns = [c for c in m.modules() if isinstance(c, (nn.BatchNorm1d, nn.BatchNorm2d))]
    assert all(bool((b.weight == 1).all()) and bool((b.bias == 0).all()) for b in bns)  # gamma 1, not N(1, 0.02)
    us = torch.cat([p.u.flatten() for p in m.modules() if isinstance(p, PowerIterationSN)])
    assert float(us.abs().max()) <= 2.0 and float(us.std()) == pytest.approx(0.8796, rel=0.15)


def test_power_iteration_is_theirs():
    """One iteration of sn.py from the stored u: v = norm(u W^T), u' = norm(v W), sigma = v W u'^T, W (fan_in, out)."""
    torch.manual_seed(2)
    layer = nn.Conv2d(3, 5, 4, 2, 1)
    w0 = layer.weight.detach().clone()
    parametrize.register_parametrization(layer, "weight", PowerIterationSN(5))
    sn = layer.parametrizations.weight[0]
    u0 = sn.u.clone().numpy()
    theirs = w0.permute(2, 3, 1, 0).reshape(-1, 5).double().numpy()  # TF layout [kh, kw, in, out] -> (fan_in, out)
    v = u0 @ theirs.T
    v /= np.sqrt((v ** 2).sum()) + 1e-12
    u1 = v @ theirs
    u1 /= np.sqrt((u1 ** 2).sum()) + 1e-12
    sigma = float((v @ theirs @ u1.T)[0, 0])
    layer.eval()
    assert np.allclose(layer.weight.detach().numpy(), w0.numpy() / sigma, rtol=1e-5)
    assert np.array_equal(sn.u.numpy(), u0)  # eval: u is not stored
    layer.train()
    _ = layer.weight
    assert np.allclose(sn.u.numpy(), u1, atol=1e-6)  # training: one stored iteration per call
    set_spectral_norm_update(layer, False)
    _ = layer.weight
    assert np.allclose(sn.u.numpy(), u1, atol=1e-6)
    for _ in range(200):  # the once-per-iteration update op, repeated: sigma converges to the spectral norm
        spectral_norm_step(layer)
    assert float(torch.linalg.matrix_norm(layer.weight.detach().reshape(5, -1), 2)) == pytest.approx(1.0, abs=1e-4)


def test_gradient_flows_through_the_power_iteration():
    """sn.py has no stop-gradient: d(sigma)/dW includes the paths through u and v (PyTorch's spectral_norm has not)."""
    torch.manual_seed(3)
    layer = nn.Linear(6, 4)
    parametrize.register_parametrization(layer, "weight", PowerIterationSN(4))
    layer.eval()
    x = torch.randn(8, 6)
    layer(x).square().sum().backward()
    ours = layer.parametrizations.weight.original.grad.clone()
    w = layer.parametrizations.weight.original.detach().clone().requires_grad_(True)
    u = layer.parametrizations.weight[0].u
    with torch.no_grad():
        v = u @ w
        v = v / v.norm()
        u1 = v @ w.t()
        u1 = u1 / u1.norm()
    sigma = (u1 @ w @ v.t()).squeeze()  # u, v held constant
    (x @ (w / sigma).t() + layer.bias.detach()).square().sum().backward()
    assert not torch.allclose(ours, w.grad, atol=1e-6)


def test_snapshot_round_trip(tmp_path, model):
    cfg = get_preset("dsprites-cr")
    model.train()
    with torch.no_grad():
        model.D(model.G(torch.rand(4, 10)))  # moves u and the batch-norm statistics off their initial values
    path = save_snapshot(model, tmp_path / "snapshot.safetensors", config=cfg, step=7)
    loaded = infogan.load(path)
    assert loaded.config.arch == "dsprites-cr" and loaded.step == 7 and loaded.run_config.preset == "dsprites-cr"
    want, got = model.state_dict(), loaded.state_dict()
    assert want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want)
    model.eval()
    z = torch.rand(5, 10) * 2 - 1
    with torch.no_grad():
        assert torch.equal(model.G(z), loaded.G(z))
        x = model.G(z)
        for a, b in zip(model.D(x), loaded.D(x)):
            assert torch.equal(a, b)


def test_preset_carries_their_hyperparameters():
    cfg = get_preset("dsprites-cr")
    spec = cfg.model.latent
    assert (cfg.preset, cfg.model.arch, cfg.data.dataset, cfg.model.image_shape) == (
        "dsprites-cr", "dsprites-cr", "dsprites", (1, 64, 64))
    assert spec.noise.dim == 5 and spec.noise.prior == "uniform"
    assert len(spec.codes) == 5 and all(isinstance(c, Continuous) and c.prior == "uniform" for c in spec.codes)
    assert all(c.q_std == "fixed" and c.fixed_std == 1.0 and c.lambda_info == 0.05 for c in spec.codes)
    o = cfg.optim
    assert (o.lr_d, o.lr_g, o.beta1, o.beta2, o.info_to_d, o.info_to_g, o.consistency) == (
        2e-3, 1e-3, 0.5, 0.999, True, True, 0.0)
    assert (cfg.model.leaky_slope, cfg.model.output, cfg.model.spectral_norm) == (0.2, "sigmoid", True)
    assert (cfg.train.batch_size, cfg.train.iterations) == (64, 28 * 737_280 // 64)  # epoch 28, batch 64
    assert apply_schedule(cfg, "cpu").train.iterations == 3000
    assert math.isclose(spec.g_input_dim, 10) and spec.q_output_dim == 5


def test_short_run_trains_and_resumes(tmp_path):
    cfg = get_preset("dsprites-cr").replace(
        data={"subset": 128, "data_dir": str(tmp_path / "data")},
        train={"iterations": 2, "batch_size": 8, "tick": 1, "snapshot_every": 1, "precision": "fp32"})
    result = infogan.train(cfg, outdir=tmp_path / "runs", progress=False)
    assert result.step == 2 and all(math.isfinite(v) for k, v in result.last_stats.items() if k.startswith("loss"))
    resumed = infogan.train(resume=result.run_dir, iterations=3, progress=False)
    assert resumed.step == 3


def test_their_g_with_the_dsprites_d(model):
    torch.manual_seed(0)
    cfg = get_preset("dsprites").replace(model={"arch": "dsprites-cr-g"})
    hybrid, plain = build_model(cfg.model), build_model(get_preset("dsprites").model)
    assert describe(hybrid.G) == THEIR_G and shapes(hybrid.G, torch.rand(2, 10)) == THEIR_G_SHAPES
    for part in ("trunk", "d_head", "q_head"):
        assert describe(getattr(hybrid.D, part)) == describe(getattr(plain.D, part))
    bn = [m for m in hybrid.G.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(torch.equal(m.weight, torch.ones_like(m.weight)) for m in bn)  # their init in G
    convs = [m for m in hybrid.D.trunk.modules() if isinstance(m, nn.Conv2d)]
    w = convs[0].parametrizations.weight.original
    assert w.abs().max() > 2 * 0.02  # the official code's N(0, 0.02) in D, not their truncated normal
