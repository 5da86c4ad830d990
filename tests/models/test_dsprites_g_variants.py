"""The dSprites architectures beyond InfoGAN-CR's: ``dsprites-coord`` (pixel coordinates fed to G's
up-convolutions, CoordConv), ``dsprites-broadcast`` (G a spatial broadcast decoder), ``dsprites-mbstd``
(D's head sees the minibatch standard deviation) and ``dsprites-cr-g-maxpool`` (D and Q also read maxima over
positions)."""

from __future__ import annotations

import pytest
import torch
from layer_lists import describe, shapes

import infogan
from infogan.models import build_model
from infogan.models.layers import AddCoords, Broadcast, MaxOverPositions, MinibatchStd
from infogan.training.loop import Trainer
from infogan.training.rundir import create_run_dir


def _cfg(arch: str):
    return infogan.get_preset("dsprites").replace(model={"arch": arch})


def test_add_coords_appends_column_and_row():
    x = torch.randn(2, 3, 4, 5)
    y = AddCoords()(x)  # (2, 5, 4, 5)
    assert y.shape == (2, 5, 4, 5) and torch.equal(y[:, :3], x)
    assert torch.allclose(y[0, 3, 0], torch.linspace(-1, 1, 5)) and torch.equal(y[1, 3, 2], y[0, 3, 0])
    assert torch.allclose(y[0, 4, :, 0], torch.linspace(-1, 1, 4)) and torch.equal(y[0, 4, :, 4], y[0, 4, :, 0])


def test_only_g_changes_and_every_upconv_sees_the_coordinates():
    torch.manual_seed(0)
    plain, coord = build_model(_cfg("dsprites").model), build_model(_cfg("dsprites-coord").model)
    ups = [f"coords upconv{n} s2 BN ReLU" for n in (64, 32, 32)] + ["coords upconv1 s2 sigmoid"]
    assert describe(coord.G) == ["FC128 BN ReLU", "FC1024 BN ReLU", *ups]
    assert [m.in_channels for m in coord.G.modules() if isinstance(m, torch.nn.ConvTranspose2d)] == [66, 66, 34, 34]
    z = torch.rand(3, 10)
    assert shapes(coord.G, z) == shapes(plain.G, z)
    assert describe(coord.D.trunk) == describe(plain.D.trunk)
    d_shapes = [{k: v.shape for k, v in m.D.state_dict().items()} for m in (plain, coord)]
    assert d_shapes[0] == d_shapes[1]
    x = coord.G(z)
    assert x.shape == (3, 1, 64, 64) and 0 <= x.min() and x.max() <= 1


def test_coordinates_let_g_draw_by_position():
    # with every weight of the last up-convolution on the column channel, G's output varies along the
    # columns even for a constant input map, which a transposed convolution alone cannot do away from the edges
    torch.manual_seed(0)
    G = build_model(_cfg("dsprites-coord").model).G
    last = G[6][1]  # the last ConvTranspose2d, fed (B, 34, 32, 32)
    with torch.no_grad():
        last.weight.zero_()
        last.weight[32] = 1.0  # the column channel
        last.bias.zero_()
        out = G[6](torch.ones(1, 32, 32, 32))  # (1, 1, 64, 64)
    assert out[0, 0, 10, 40] > out[0, 0, 10, 20] and torch.equal(out[0, 0, 10, 20:40], out[0, 0, 30, 20:40])


def test_broadcast_tiles_the_vector_beside_the_coordinates():
    x = torch.randn(2, 3)
    y = Broadcast(4)(x)  # (2, 5, 4, 4)
    assert y.shape == (2, 5, 4, 4) and torch.equal(y[:, :3, 1, 2], x) and torch.equal(y[:, :3, 3, 0], x)
    assert torch.equal(y[:, 3:], AddCoords()(torch.zeros(2, 0, 4, 4)))


def test_broadcast_g_layers_and_shared_d():
    torch.manual_seed(0)
    plain, wide = build_model(_cfg("dsprites").model), build_model(_cfg("dsprites-broadcast").model)
    assert describe(wide.G) == ["FC128 BN ReLU", "upconv64 BN ReLU", "upconv64 BN ReLU", "upconv32 s2 BN ReLU",
                                "upconv1 s2 sigmoid"]
    assert shapes(wide.G, torch.rand(3, 10)) == [(128,), (130, 16, 16), (64, 16, 16), (64, 16, 16), (32, 32, 32),
                                                 (1, 64, 64), (1, 64, 64)]
    assert describe(wide.D.trunk) == describe(plain.D.trunk) and describe(wide.D.q_head) == describe(plain.D.q_head)


def test_minibatch_std_per_group():
    x = torch.randn(8, 3)
    y = MinibatchStd(4)(x)  # (8, 4); groups of 4: samples {0, 2, 4, 6} and {1, 3, 5, 7}
    assert y.shape == (8, 4) and torch.equal(y[:, :3], x)
    even = x[0::2].var(dim=0, unbiased=False).add(1e-8).sqrt().mean()
    assert torch.allclose(y[0::2, 3], even.expand(4)) and not torch.allclose(y[1, 3], even)
    assert MinibatchStd(4)(torch.ones(8, 3))[:, 3].max() < 1e-3  # identical samples: near 0
    odd = MinibatchStd(4)(torch.randn(6, 3))  # 6 is no multiple of 4: the whole batch is one group
    assert torch.equal(odd[:, 3], odd[:1, 3].expand(6))


def test_mbstd_d_sees_the_batch_and_q_reads_each_image_alone():
    torch.manual_seed(0)
    model = build_model(_cfg("dsprites-mbstd").model).eval()
    x = torch.rand(8, 1, 64, 64)
    with torch.no_grad():
        logit, q = model.D(x)
        logit_same, q_same = model.D(x[:1].expand(8, 1, 64, 64))
        assert torch.allclose(model.D(x[:4])[1], q[:4], atol=1e-6)  # Q: the same image, the same reading
    assert torch.allclose(q_same[0], q[0], atol=1e-6)
    assert not torch.allclose(logit_same[0], logit[0])  # D: the same image in a collapsed batch reads otherwise
    assert describe(model.D.d_head) == ["FC1 SN"] and model.D.d_head[1].in_features == 129


def test_max_over_positions_appends_the_maxima_of_the_last_blocks():
    torch.manual_seed(0)
    blocks = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 4, 2, 1), torch.nn.Conv2d(3, 5, 4, 2, 1),
                                 torch.nn.Conv2d(5, 6, 4, 2, 1))
    head = torch.nn.Linear(6 * 2 * 2, 7)
    x = torch.randn(2, 1, 16, 16)
    h1 = blocks[0](x)
    h2 = blocks[1](h1)
    h3 = blocks[2](h2)  # (2, 6, 2, 2)
    y = MaxOverPositions(blocks, head, taps=2)(x)
    assert y.shape == (2, 7 + 5 + 6)
    assert torch.allclose(y, torch.cat([head(h3.flatten(1)), h2.amax(dim=(2, 3)), h3.amax(dim=(2, 3))], dim=1))
    for taps in (0, 4):
        with pytest.raises(ValueError, match="taps"):
            MaxOverPositions(blocks, head, taps=taps)


def test_max_over_positions_is_the_same_wherever_a_pattern_is():
    torch.manual_seed(0)
    blocks = torch.nn.Sequential(torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, 1, 1), torch.nn.LeakyReLU(0.2)))
    trunk = MaxOverPositions(blocks, torch.nn.Linear(4 * 32 * 32, 2), taps=1)
    pattern = torch.rand(5, 6)
    x = torch.zeros(2, 1, 32, 32)
    x[0, 0, 4:9, 3:9], x[1, 0, 20:25, 17:23] = pattern, pattern  # one pattern, two places
    with torch.no_grad():
        y = trunk(x)  # (2, 2 + 4)
    assert torch.allclose(y[0, 2:], y[1, 2:], atol=1e-6)  # the maxima do not see where
    assert not torch.allclose(y[0, :2], y[1, :2])  # the flattened features do


def test_maxpool_arch_changes_only_what_d_and_q_read():
    torch.manual_seed(0)
    cr_g, maxpool = build_model(_cfg("dsprites-cr-g").model), build_model(_cfg("dsprites-cr-g-maxpool").model)
    assert [(k, v.shape) for k, v in cr_g.G.state_dict().items()] == \
        [(k, v.shape) for k, v in maxpool.G.state_dict().items()]
    assert isinstance(maxpool.D.trunk, MaxOverPositions) and maxpool.D.trunk.taps == 2
    assert describe(maxpool.D.trunk.blocks) == describe(cr_g.D.trunk[:4])
    assert maxpool.D.d_head.in_features == 256 and maxpool.D.q_head[0][0].in_features == 256
    assert cr_g.D.d_head.in_features == 128 and [k for k in cr_g.D.state_dict() if k.startswith("trunk.5.")]
    x = torch.rand(3, 1, 64, 64)
    logit, q = maxpool.D(x)
    assert logit.shape == (3,) and q.shape == (3, maxpool.spec.q_output_dim)


@pytest.mark.parametrize("arch", ["dsprites-coord", "dsprites-broadcast", "dsprites-mbstd", "dsprites-cr-g-maxpool"])
def test_g_variant_trains_and_loads_from_its_snapshot(arch, tmp_path):
    cfg = _cfg(arch).replace(
        data={"dataset": "fake"}, train={"iterations": 2, "batch_size": 4, "tick": 1, "snapshot_every": 2})
    data = infogan.data.load_dataset("fake", image_size=64, channels=1)
    trainer = Trainer(cfg, create_run_dir(tmp_path, cfg), data, progress=False)
    trainer.run()
    model = infogan.load(trainer.run_dir)
    assert model.step == 2 and model.run_config.model.arch == arch
    assert torch.isfinite(infogan.generate(model, generator=torch.Generator().manual_seed(0))).all()
