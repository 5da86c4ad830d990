"""Architecture fidelity against the paper's Table 1 (Appendix C)."""

import torch
from torch import nn

from infogan.config import ModelConfig
from infogan.models import build_model


def layer_types(module):
    return [type(m).__name__ for m in module.modules() if not isinstance(m, (nn.Sequential,))
            and type(m).__name__ not in ("Discriminator", "InfoGAN")]


def test_mnist_layers_shapes_and_parameter_counts():
    model = build_model(ModelConfig())
    # G: FC1024 BN ReLU; FC 7x7x128 BN ReLU; upconv64 s2 BN ReLU; upconv1 s2 sigmoid
    assert layer_types(model.G) == ["Linear", "BatchNorm1d", "ReLU", "Linear", "BatchNorm1d", "ReLU", "Reshape",
                                    "ConvTranspose2d", "BatchNorm2d", "ReLU", "ConvTranspose2d", "Sigmoid"]
    # D/Q trunk: conv64 s2 lReLU; conv128 s2 BN lReLU; FC1024 BN lReLU
    assert layer_types(model.D.trunk) == ["Conv2d", "LeakyReLU", "Conv2d", "BatchNorm2d", "LeakyReLU", "Flatten",
                                          "Linear", "BatchNorm1d", "LeakyReLU"]
    # Q head: FC128 BN lReLU, FC out
    assert layer_types(model.D.q_head) == ["Linear", "BatchNorm1d", "LeakyReLU", "Linear"]
    convs = [m for m in model.D.trunk.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.kernel_size, c.stride, c.out_channels) for c in convs] == [((4, 4), (2, 2), 64), ((4, 4), (2, 2), 128)]
    assert all(m.negative_slope == 0.1 for m in model.D.modules() if isinstance(m, nn.LeakyReLU))
    # parameter counts derived by hand from Table 1 (no bias in front of BN):
    # G = 74*1024 + 2*1024 + 1024*6272 + 2*6272 + 128*64*16 + 2*64 + 64*16 + 1
    assert model.parameter_counts() == {"G": 6_645_121, "D_trunk": 6_556_992, "D_head": 1025, "Q_head": 133_134}
    x = model.G(torch.rand(3, 74))
    assert x.shape == (3, 1, 28, 28) and x.min() >= 0 and x.max() <= 1
    d, q = model.D(x)
    assert d.shape == (3,) and q.shape == (3, 14)


def test_official_variant_slope_and_fixed_std():
    from infogan.config.presets import get_preset

    cfg = get_preset("mnist-official").model
    model = build_model(cfg)
    assert all(m.negative_slope == 0.01 for m in model.D.modules() if isinstance(m, nn.LeakyReLU))
    assert model.D.q_head[-1].out_features == 12  # 10 logits + one mean per continuous code


def test_init_matches_official_code():
    torch.manual_seed(0)
    model = build_model(ModelConfig())
    w = model.D.trunk[3][0].weight
    assert abs(w.std().item() - 0.02) < 0.002 and abs(w.mean().item()) < 0.002
    gamma = model.G[0][1].weight
    assert abs(gamma.mean().item() - 1) < 0.005 and 0.01 < gamma.std().item() < 0.03
