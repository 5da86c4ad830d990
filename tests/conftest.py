"""Shared fixtures: tiny fake data, tiny configs, a trained tiny run."""

from __future__ import annotations

import pytest
import torch

import infogan
from infogan.data.base import ImageData


@pytest.fixture(autouse=True, scope="module")
def _registries_restored():
    """Whatever a test module registers (the 'tiny' architecture, a preset) is gone after it, so that no test
    passes only because an earlier module left a registration behind."""
    from infogan.config import presets
    from infogan.models import ARCHITECTURES

    saved = dict(ARCHITECTURES), dict(presets.PRESETS), dict(presets.SCHEDULES)
    yield
    for registry, before in zip((ARCHITECTURES, presets.PRESETS, presets.SCHEDULES), saved):
        registry.clear()
        registry.update(before)
    ARCHITECTURES.update(_SESSION_ARCHITECTURES)  # a session fixture's registration lasts the session


_SESSION_ARCHITECTURES: dict = {}  # registered by session-scoped fixtures (tiny_arch)


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(2)
    yield


@pytest.fixture
def fake_data() -> ImageData:
    g = torch.Generator().manual_seed(0)
    return ImageData(torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8, generator=g),
                     torch.randint(0, 10, (64,), generator=g), name="fake")


@pytest.fixture
def tiny_config():
    """MNIST architecture, fp32, a few iterations: the unit every training test builds on."""
    return infogan.get_preset("fake").replace(
        train={"iterations": 4, "batch_size": 8, "tick": 2, "snapshot_every": 2, "precision": "fp32",
               "deterministic": True})


@pytest.fixture
def tiny_run(tmp_path, tiny_config, fake_data):
    return infogan.train(tiny_config, outdir=tmp_path / "runs", data=fake_data, progress=False)


def _build_tiny(cfg):
    """The MNIST layout (Table 1) at 1/16 of its widths: the same code paths, snapshots of ~100 kB."""
    from torch import nn

    from infogan.models.base import Discriminator, InfoGAN
    from infogan.models.layers import Reshape, conv, fc, output_activation, upconv

    c, slope = cfg.image_shape[0], cfg.leaky_slope
    G = nn.Sequential(fc(cfg.latent.g_input_dim, 64, bn=True, act="relu"), fc(64, 8 * 7 * 7, bn=True, act="relu"),
                      Reshape(8, 7, 7), upconv(8, 4, bn=True, act="relu"), upconv(4, c, bn=False, act="none"),
                      output_activation(cfg.output))  # (B, C, 28, 28)
    trunk = nn.Sequential(conv(c, 4, bn=False, slope=slope), conv(4, 8, bn=True, slope=slope), nn.Flatten(),
                          fc(8 * 7 * 7, 64, bn=True, act="lrelu", slope=slope))  # (B, 64)
    q_head = nn.Sequential(fc(64, 16, bn=True, act="lrelu", slope=slope), nn.Linear(16, cfg.latent.q_output_dim))
    return InfoGAN(cfg, G, Discriminator(trunk, nn.Linear(64, 1), q_head))


@pytest.fixture(scope="session")
def tiny_arch():
    """Registers the 'tiny' architecture (MNIST layout, 1/16 widths), yields its name, and restores the
    registry afterwards."""
    from infogan.models import ARCHITECTURES, register

    before = dict(ARCHITECTURES)
    register("tiny", _build_tiny)
    _SESSION_ARCHITECTURES["tiny"] = ARCHITECTURES["tiny"]
    yield "tiny"
    _SESSION_ARCHITECTURES.clear()
    ARCHITECTURES.clear()
    ARCHITECTURES.update(before)


@pytest.fixture
def tiny_arch_config(tiny_config, tiny_arch):
    """``tiny_config`` on the 'tiny' architecture: fast run folders with small snapshots."""
    return tiny_config.replace(model={"arch": tiny_arch})


@pytest.fixture(scope="session")
def tiny_trained_run(tmp_path_factory, tiny_arch):
    """A 'tiny'-architecture run trained for 4 iterations on fake images, built once per session and shared
    read-only (explorer, encode and export tests); returns the run folder.

    Four iterations leave G's images a near-uniform grey (every code maps to the same uint8 pixels), so G's
    last layer is rescaled to logits of std ~2 and the snapshot rewritten: images then change visibly with
    every code while the networks stay those of a real snapshot."""
    from infogan import snapshot
    from infogan.inference.generate import generate

    g = torch.Generator().manual_seed(0)
    data = ImageData(torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8, generator=g), name="fake")
    cfg = infogan.get_preset("fake").replace(model={"arch": "tiny"}, train={
        "iterations": 4, "batch_size": 8, "tick": 2, "snapshot_every": 4, "precision": "fp32"})
    run_dir = infogan.train(cfg, outdir=tmp_path_factory.mktemp("tiny-trained") / "runs", data=data,
                            progress=False).run_dir
    model = snapshot.load(run_dir)
    logits = torch.logit(generate(model, n=64, generator=torch.Generator().manual_seed(1)), eps=1e-6)
    last = model.G[-2][0]  # the final transposed conv, right before the sigmoid
    with torch.no_grad():
        scale = 2.0 / logits.std()
        last.weight.mul_(scale)
        last.bias.mul_(scale)
    snapshot.save_snapshot(model, run_dir / snapshot.SNAPSHOT_NAME, config=model.run_config, step=model.step)
    return run_dir


@pytest.fixture
def one_thread():
    """One torch thread: for the tiny models a second one only adds synchronisation."""
    torch.set_num_threads(1)
    yield


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    """A finished 4-step run of the tiny architecture (snapshot + state), trained once per module, for the
    hostile-input tests to copy and damage."""
    from hostile import threads_one, train_tiny

    threads_one()
    return train_tiny(tmp_path_factory.mktemp("runs"))
