"""The transform-consistency term (infogan.training.augment, OptimConfig.consistency): the transforms, where its
gradients go, its config, the preset, and a bit-identical resume with it on."""

from __future__ import annotations

import math

import pytest
import torch

import infogan
from infogan.errors import ConfigError
from infogan.latent.syntax import parse_latent
from infogan.training import Trainer, augment
from infogan.training import objective as losses
from infogan.training import state as resume_state
from infogan.training.rundir import create_run_dir


def _params(theta):
    """Angle (degrees), zoom and shift back from (B, 2, 3) matrices."""
    angle = torch.rad2deg(torch.atan2(theta[:, 1, 0], theta[:, 0, 0]))
    zoom = 1.0 / torch.hypot(theta[:, 0, 0], theta[:, 1, 0])
    return angle, zoom, theta[:, :, 2]


def test_theta_stays_in_its_ranges_and_uses_them():
    theta = augment.random_affine_theta(4000, rotation=20, scale=0.1, shift=0.1,
                                        generator=torch.Generator().manual_seed(0))
    angle, zoom, shift = _params(theta)
    assert theta.shape == (4000, 2, 3)
    assert angle.abs().max() <= 20 + 1e-4 and angle.abs().max() > 19
    assert (zoom - 1).abs().max() <= 0.1 + 1e-5 and (zoom - 1).abs().max() > 0.09
    assert shift.abs().max() <= 0.2 + 1e-6 and shift.abs().max() > 0.19  # 10% of a side = 0.2 normalised


def test_zero_ranges_are_the_identity():
    images = torch.rand(3, 1, 28, 28)
    theta = augment.random_affine_theta(3, rotation=0, scale=0, shift=0)
    torch.testing.assert_close(augment.apply_affine(images, theta, fill=0.0), images, atol=1e-5, rtol=0)


def test_rotation_turns_a_vertical_bar_horizontal():
    bar = torch.zeros(1, 1, 28, 28)
    bar[..., 4:24, 13:15] = 1.0  # vertical
    a = math.radians(90)
    theta = torch.tensor([[[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]]])
    turned = augment.apply_affine(bar, theta, fill=0.0)[0, 0]
    rows, cols = turned.sum(dim=1), turned.sum(dim=0)
    assert (rows > 0.5).sum() <= 4 and (cols > 0.5).sum() >= 16  # ink now spans columns, not rows
    assert abs(turned.sum().item() - bar.sum().item()) < 1.0  # the ink is kept


@pytest.mark.parametrize("fill", [0.0, -1.0])
def test_uncovered_pixels_get_the_background(fill):
    ink = torch.ones(1, 1, 28, 28)
    theta = torch.tensor([[[1.0, 0.0, 0.5], [0.0, 1.0, 0.0]]])  # a quarter of the width shifted in
    moved = augment.apply_affine(ink, theta, fill=fill)
    assert torch.allclose(moved[..., -3:], torch.full_like(moved[..., -3:], fill), atol=1e-6)
    assert torch.allclose(moved[..., :10], torch.ones_like(moved[..., :10]))
    background = torch.full((1, 1, 28, 28), fill)
    assert torch.allclose(augment.apply_affine(background, theta, fill=fill), background)


def test_the_transform_passes_gradients_to_the_images():
    images = torch.rand(2, 1, 28, 28, requires_grad=True)
    theta = augment.random_affine_theta(2, rotation=20, scale=0.1, shift=0.1, generator=torch.Generator().manual_seed(1))
    augment.apply_affine(images, theta, fill=0.0).sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_categorical_only_leaves_continuous_codes_out():
    spec = parse_latent("noise4,cat10,unif2")
    latent = spec.sample(32, generator=torch.Generator().manual_seed(0))
    q = torch.randn(32, spec.q_output_dim, requires_grad=True)
    loss, bound = losses.info_loss(spec, q, latent, categorical_only=True)
    expected = torch.nn.functional.cross_entropy(q[:, :10], latent.codes[0])
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert q.grad[:, :10].abs().sum() > 0 and q.grad[:, 10:].abs().sum() == 0
    assert bound.shape == (3,)  # the bound still reports every code


def _step_grads(config, data, tmp_path, name):
    """Gradients of one D phase and one G phase on a fixed batch, latent and transform stream; D's learning
    rate is set to 0, so that the G phase sees the same D whether the term is on or off."""
    trainer = Trainer(config, create_run_dir(tmp_path / name, config), data, progress=False)
    for group in trainer.opt_d.param_groups:
        group["lr"] = 0.0
    spec = trainer.model.spec
    real = trainer.real_batch(8)
    latent = spec.sample(8, generator=torch.Generator().manual_seed(5))
    trainer.gen_latent.manual_seed(9)
    grads = {}
    for opt, prefix in ((trainer.opt_d, "D"), (trainer.opt_g, "G")):
        original = opt.step
        opt.step = lambda *a, _o=opt, _p=prefix, **k: grads.update(
            {f"{_p}:{n}": p.grad.clone() for n, p in trainer.model.named_parameters() if p.grad is not None})
        try:
            trainer.train_step(real, latent)
        finally:
            opt.step = original
    return grads


def test_the_term_reaches_q_trunk_and_g_but_not_d_head(tiny_config, fake_data, tmp_path):
    torch.manual_seed(0)
    off = _step_grads(tiny_config, fake_data, tmp_path, "off")
    torch.manual_seed(0)
    on = _step_grads(tiny_config.replace(optim={"consistency": 1.0}), fake_data, tmp_path, "on")
    changed = {k for k in off if not torch.allclose(off[k], on[k], atol=1e-7, rtol=0)}
    assert any(k.startswith("D:D.q_head.") for k in changed)
    assert any(k.startswith("D:D.trunk.") for k in changed)
    assert any(k.startswith("G:G.") for k in changed)
    assert not any(k.startswith("D:D.d_head.") for k in changed)  # the GAN head never sees the term


def test_baseline_keeps_the_term_out_of_g(tiny_config, fake_data, tmp_path):
    base = tiny_config.replace(optim={"info_to_g": False})
    torch.manual_seed(0)
    off = _step_grads(base, fake_data, tmp_path, "off")
    torch.manual_seed(0)
    on = _step_grads(base.replace(optim={"consistency": 1.0}), fake_data, tmp_path, "on")
    g_keys = [k for k in off if k.startswith("G:G.")]
    assert g_keys and all(torch.equal(off[k], on[k]) for k in g_keys)


@pytest.mark.parametrize("field,value", [("consistency", -1.0), ("consistency", float("nan")),
                                         ("consistency", True), ("consistency_rotation", 200.0),
                                         ("consistency_scale", 1.0), ("consistency_shift", -0.1)])
def test_bad_settings_are_refused(field, value):
    with pytest.raises(ConfigError, match=field):
        infogan.get_preset("mnist").replace(optim={field: value})


def test_preset_and_config_round_trip():
    cfg = infogan.get_preset("mnist-consistent")
    assert cfg.optim.consistency == 1.0 and cfg.optim.consistency_rotation == 20.0
    assert cfg.model.latent == infogan.get_preset("mnist-official").model.latent  # Q std fixed, as official
    assert infogan.RunConfig.from_json(cfg.to_json()) == cfg
    assert infogan.get_preset("mnist").optim.consistency == 0.0  # the paper's objective stays the default


def test_cli_flag_sets_the_weight(capsys):
    from infogan.cli import main

    assert main(["train", "--preset", "mnist", "--consistency", "0.5", "--dry-run"]) == 0
    assert '"consistency": 0.5' in capsys.readouterr().out


def test_resume_with_the_term_is_bit_identical(tmp_path, tiny_config, fake_data):
    cfg = tiny_config.replace(optim={"consistency": 1.0})
    full = infogan.train(cfg, outdir=tmp_path / "a", data=fake_data, progress=False)
    half = infogan.train(cfg.replace(train={"iterations": 2}), outdir=tmp_path / "b", data=fake_data, progress=False)
    resumed = infogan.train(resume=half.run_dir, iterations=4, data=fake_data, progress=False)
    a = resume_state.load_state(full.run_dir / "state.pt")
    b = resume_state.load_state(resumed.run_dir / "state.pt")
    assert all(torch.equal(a.model[k], b.model[k]) for k in a.model)
