"""Architecture fidelity of every paper preset against Appendix C (Tables 2-4 and 6; MNIST is in test_models).

Each network is described in the paper's notation ("conv128 s2 BN lReLU") and compared with the table
transcribed here; output shapes are checked layer by layer and parameter counts against counts derived by
hand from the tables (4x4 kernels; no bias in front of BN, BN has gamma and beta).
"""

from __future__ import annotations

import pytest
import torch
from layer_lists import describe, shapes
from torch import nn

from infogan.config import ModelConfig
from infogan.config.presets import get_preset
from infogan.errors import ConfigError
from infogan.models import build_model
from infogan.models.chairs import upconv_same

PAPER_PRESETS = ["svhn", "celeba", "faces-azimuth", "faces-elevation", "faces-lighting", "chairs-rotation",
                 "chairs-width", "fashion-mnist"]


def fc(i: int, o: int, bn: bool) -> int:
    return i * o + 2 * o if bn else i * o + o


def conv(i: int, o: int, bn: bool) -> int:
    return fc(16 * i, o, False) - o + (2 * o if bn else o)  # 4x4 kernel


# ---------------------------------------------------------------- the tables, transcribed
SVHN_G = ["FC1792 BN ReLU", "upconv256 s2 BN ReLU", "upconv128 s2 ReLU", "upconv64 s2 ReLU", "upconv3 s2 tanh"]
SVHN_TRUNK = ["conv64 s2 lReLU", "conv128 s2 BN lReLU", "conv256 s2 BN lReLU"]  # FC 2x2x448 = FC1792
FACES_G = ["FC1024 BN ReLU", "FC8192 BN ReLU", "upconv64 s2 BN ReLU", "upconv1 s2 sigmoid"]  # 8x8x128
FACES_TRUNK = ["conv64 s2 lReLU", "conv128 s2 BN lReLU", "FC1024 BN lReLU"]
CHAIRS_G = ["FC1024 BN ReLU", "FC16384 BN ReLU", "upconv256 BN ReLU", "upconv256 BN ReLU",  # 8x8x256
            "upconv128 s2 BN ReLU", "upconv64 s2 BN ReLU", "upconv1 s2 sigmoid"]
CHAIRS_TRUNK = ["conv64 s2 lReLU", "conv128 s2 BN lReLU", "conv256 s2 BN lReLU", "conv256 BN lReLU",
                "conv256 BN lReLU", "FC1024 BN lReLU"]

TABLES = {
    # preset: (G input, Q output, G layers, G shapes, trunk layers, trunk shapes, Q head layers)
    "svhn": (168, 4 * 10 + 4 * 2, SVHN_G,
             [(1792,), (448, 2, 2), (256, 4, 4), (128, 8, 8), (64, 16, 16), (3, 32, 32), (3, 32, 32)],
             SVHN_TRUNK, [(64, 16, 16), (128, 8, 8), (256, 4, 4), (4096,)], ["FC128 BN lReLU", "FC48"]),
    "celeba": (228, 10 * 10, SVHN_G,
               [(1792,), (448, 2, 2), (256, 4, 4), (128, 8, 8), (64, 16, 16), (3, 32, 32), (3, 32, 32)],
               SVHN_TRUNK, [(64, 16, 16), (128, 8, 8), (256, 4, 4), (4096,)], ["FC128 BN lReLU", "FC100"]),
    "faces": (133, 5 * 2, FACES_G,
              [(1024,), (8192,), (128, 8, 8), (64, 16, 16), (1, 32, 32), (1, 32, 32)],
              FACES_TRUNK, [(64, 16, 16), (128, 8, 8), (8192,), (1024,)], ["FC10"]),
    "chairs": (189, 3 * 20 + 2, CHAIRS_G,
               [(1024,), (16384,), (256, 8, 8), (256, 8, 8), (256, 8, 8), (128, 16, 16), (64, 32, 32),
                (1, 64, 64), (1, 64, 64)],
               CHAIRS_TRUNK, [(64, 32, 32), (128, 16, 16), (256, 8, 8), (256, 8, 8), (256, 8, 8), (16384,),
                              (1024,)], ["FC62"]),
}


def parameter_counts(arch: str, g_in: int, q: int) -> dict[str, int]:
    """Counts derived from the tables alone."""
    if arch in ("svhn", "celeba"):
        return {"G": fc(g_in, 1792, True) + conv(448, 256, True) + conv(256, 128, False) + conv(128, 64, False)
                + conv(64, 3, False),
                "D_trunk": conv(3, 64, False) + conv(64, 128, True) + conv(128, 256, True),
                "D_head": fc(4096, 1, False), "Q_head": fc(4096, 128, True) + fc(128, q, False)}
    if arch == "faces":
        return {"G": fc(g_in, 1024, True) + fc(1024, 8192, True) + conv(128, 64, True) + conv(64, 1, False),
                "D_trunk": conv(1, 64, False) + conv(64, 128, True) + fc(8192, 1024, True),
                "D_head": fc(1024, 1, False), "Q_head": fc(1024, q, False)}
    return {"G": fc(g_in, 1024, True) + fc(1024, 16384, True) + 2 * conv(256, 256, True) + conv(256, 128, True)
            + conv(128, 64, True) + conv(64, 1, False),
            "D_trunk": conv(1, 64, False) + conv(64, 128, True) + conv(128, 256, True) + 2 * conv(256, 256, True)
            + fc(16384, 1024, True),
            "D_head": fc(1024, 1, False), "Q_head": fc(1024, q, False)}


@pytest.mark.parametrize("preset", PAPER_PRESETS[:-1])
def test_layers_shapes_and_parameter_counts(preset):
    cfg = get_preset(preset).model
    key = preset.split("-")[0]
    g_in, q_dim, g_layers, g_shapes, trunk_layers, trunk_shapes, q_layers = TABLES[key]
    assert cfg.latent.g_input_dim == g_in and cfg.latent.q_output_dim == q_dim
    model = build_model(cfg).eval()
    assert describe(model.G) == g_layers
    assert describe(model.D.trunk) == trunk_layers
    assert describe(model.D.q_head if isinstance(model.D.q_head, nn.Sequential)
                     else nn.Sequential(model.D.q_head)) == q_layers
    assert describe(nn.Sequential(model.D.d_head)) == ["FC1"]
    for m in model.modules():  # every kernel 4x4 (Appendix C), stride 2 or 1
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            assert m.kernel_size == (4, 4) and m.stride in ((1, 1), (2, 2))
    assert all(m.negative_slope == 0.1 for m in model.modules() if isinstance(m, nn.LeakyReLU))
    with torch.no_grad():
        assert shapes(model.G, torch.rand(3, g_in) * 2 - 1) == g_shapes
        x = model.G(torch.rand(3, g_in))
        assert shapes(model.D.trunk, x) == trunk_shapes
        d, q = model.D(x)
    assert d.shape == (3,) and q.shape == (3, q_dim)
    assert model.parameter_counts() == parameter_counts(key, g_in, q_dim)


def test_parameter_counts_by_hand():
    """Spot values, written out, so that a wrong helper above cannot hide a wrong network."""
    svhn = build_model(get_preset("svhn").model).parameter_counts()
    # G = 168*1792 + 2*1792 + 448*256*16 + 2*256 + (256*128*16 + 128) + (128*64*16 + 64) + (64*3*16 + 3)
    assert svhn == {"G": 2_798_787, "D_trunk": 659_264, "D_head": 4097, "Q_head": 530_736}
    faces = build_model(get_preset("faces-azimuth").model).parameter_counts()
    assert faces == {"G": 8_675_457, "D_trunk": 8_523_072, "D_head": 1025, "Q_head": 10_250}
    chairs = build_model(get_preset("chairs-rotation").model).parameter_counts()
    assert chairs == {"G": 19_760_513, "D_trunk": 19_534_656, "D_head": 1025, "Q_head": 63_550}


def test_output_ranges():
    for preset, low, high in (("svhn", -1, 1), ("celeba", -1, 1), ("faces-lighting", 0, 1), ("chairs-width", 0, 1),
                              ("fashion-mnist", 0, 1)):
        cfg = get_preset(preset).model
        model = build_model(cfg).eval()
        with torch.no_grad():
            x = model.G(torch.randn(4, cfg.latent.g_input_dim) * 50)  # saturate the output nonlinearity
        assert x.min() >= low and x.max() <= high and x.min() < low + 0.5 and x.max() > high - 0.5, preset


def test_fashion_mnist_uses_the_mnist_networks():
    fashion, mnist = build_model(get_preset("fashion-mnist").model), build_model(get_preset("mnist").model)
    assert describe(fashion.G) == describe(mnist.G) and fashion.parameter_counts() == mnist.parameter_counts()


def test_stride1_upconv_is_tensorflow_same_transposed_conv():
    """upconv_same (4x4, stride 1) is the adjoint of the 4x4 'same' conv, i.e. TF conv2d_transpose(SAME)."""
    torch.manual_seed(0)
    block = upconv_same(3, 5, bn=False)
    tconv = block[0]
    x = torch.randn(2, 3, 8, 8)
    y = block[1](tconv(x))
    assert y.shape == (2, 5, 8, 8)
    # conv: (B, 5, 8, 8) -> (B, 3, 8, 8) with the same weight tensor; its vector-Jacobian product is the adjoint
    inp = torch.randn(2, 5, 8, 8, requires_grad=True)
    out = nn.functional.conv2d(inp, tconv.weight, padding="same")
    (grad,) = torch.autograd.grad(out, inp, grad_outputs=x)
    torch.testing.assert_close(y, grad + tconv.bias.view(1, -1, 1, 1), rtol=1e-5, atol=1e-5)


def test_stride1_conv_keeps_size_with_4x4_kernel():
    trunk = build_model(get_preset("chairs-rotation").model).D.trunk
    stride1 = [m for m in trunk.modules() if isinstance(m, nn.Conv2d) and m.stride == (1, 1)]
    assert len(stride1) == 2 and all(m.kernel_size == (4, 4) and m.padding == "same" for m in stride1)


@pytest.mark.parametrize("arch, bad, good", [("svhn", (3, 28, 28), (3, 64, 64)), ("faces", (1, 30, 30), (1, 28, 28)),
                                             ("chairs", (1, 60, 60), (3, 32, 32))])
def test_image_size_must_fit_the_strides(arch, bad, good):
    latent = "noise10,cat10,unif2"
    with pytest.raises(ConfigError, match=f"architecture '{arch}' handles image sides"):
        build_model(ModelConfig(arch=arch, latent=latent, image_shape=bad))
    model = build_model(ModelConfig(arch=arch, latent=latent, image_shape=good)).eval()
    with torch.no_grad():
        x = model.G(torch.rand(2, 22))
        assert x.shape == (2, *good) and model.D(x)[1].shape == (2, 14)


@pytest.mark.parametrize("arch", ["svhn", "faces", "chairs"])
def test_spectral_norm_option(arch):
    shape = {"svhn": (3, 32, 32), "faces": (1, 32, 32), "chairs": (1, 16, 16)}[arch]
    model = build_model(ModelConfig(arch=arch, latent="noise4,cat3", image_shape=shape, spectral_norm=True))
    wrapped = [m for m in model.D.modules() if hasattr(m, "parametrizations")]
    assert len(wrapped) == sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.D.trunk.modules()) + 1
    assert model.D(torch.rand(2, *shape))[0].shape == (2,)
