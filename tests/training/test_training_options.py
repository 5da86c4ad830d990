"""The trainer's options beyond the default path: fresh latents for the G step, several G or D steps, the
bound on G's output pre-activations, the -log(D + eps) loss form, epoch sampling, spectral norm advanced once
per iteration, the consistency term in D's loss only, and evaluations during training."""

from __future__ import annotations

import json

import pytest
import torch

import infogan
from infogan.errors import ConfigError, TrainingError
from infogan.training import state as resume_state
from infogan.training.batches import BatchSource
from infogan.training.logit_bound import OutputLogitBound
from infogan.training.loop import Trainer
from infogan.training.objective import Objective, d_loss, g_loss
from infogan.training.rundir import create_run_dir


def _weights(run_dir):
    return infogan.load(run_dir).state_dict()


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _train(cfg, tmp_path, data, name):
    return infogan.train(cfg, outdir=tmp_path / name, data=data, progress=False)


def test_fresh_latent_for_the_g_step_draws_twice_per_iteration(tmp_path, tiny_config, fake_data):
    shared = _train(tiny_config, tmp_path, fake_data, "shared")
    fresh = _train(tiny_config.replace(optim={"g_latent": "fresh"}), tmp_path, fake_data, "fresh")
    assert not _same(_weights(shared.run_dir), _weights(fresh.run_dir))
    trainer = Trainer(tiny_config.replace(optim={"g_latent": "fresh"}), create_run_dir(tmp_path / "t", tiny_config),
                      fake_data, progress=False)
    before = trainer.gen_latent.get_state()
    trainer.train_step()
    after_fresh = trainer.gen_latent.get_state()
    trainer.gen_latent.set_state(before)
    trainer.model.spec.sample(8, generator=trainer.gen_latent)
    trainer.model.spec.sample(8, generator=trainer.gen_latent)  # two draws of the batch: D's and G's
    assert torch.equal(after_fresh, trainer.gen_latent.get_state())


def test_two_g_steps_per_iteration(tmp_path, tiny_config, fake_data):
    cfg = tiny_config.replace(optim={"g_steps": 2})
    trainer = Trainer(cfg, create_run_dir(tmp_path, cfg), fake_data, progress=False)
    trainer.train_step()
    trainer.train_step()
    steps = {int(s["step"]) for s in trainer.opt_g.state_dict()["state"].values()}
    assert steps == {4} and {int(s["step"]) for s in trainer.opt_d.state_dict()["state"].values()} == {2}


def test_three_d_steps_per_iteration_draw_their_own_batches(tmp_path, tiny_config, fake_data):
    cfg = tiny_config.replace(optim={"d_steps": 3})
    trainer = Trainer(cfg, create_run_dir(tmp_path / "t", cfg), fake_data, progress=False)
    before = trainer.gen_data.get_state()
    trainer.train_step()
    assert {int(s["step"]) for s in trainer.opt_d.state_dict()["state"].values()} == {3}
    assert {int(s["step"]) for s in trainer.opt_g.state_dict()["state"].values()} == {1}
    trainer.gen_data.set_state(before)
    for _ in range(3):  # three real batches, one per D update
        trainer.batches.indices(cfg.train.batch_size)
    after_three = trainer.gen_data.get_state()
    trainer.gen_data.set_state(before)
    trainer.train_step()
    assert torch.equal(after_three, trainer.gen_data.get_state())
    one = _train(tiny_config, tmp_path, fake_data, "one")
    three = _train(cfg, tmp_path, fake_data, "three")
    assert not _same(_weights(one.run_dir), _weights(three.run_dir))
    with pytest.raises(ConfigError, match="d_steps must be an integer in 1..10"):
        tiny_config.replace(optim={"d_steps": 0})


def test_logit_bound_penalises_only_pre_activations_beyond_the_bound():
    G = torch.nn.Sequential(torch.nn.Linear(2, 3, bias=False), torch.nn.Sigmoid())
    with torch.no_grad():
        G[0].weight.copy_(torch.tensor([[10.0, 0.0], [0.0, -12.0], [1.0, 1.0]]))
    bound = OutputLogitBound(G, 8.0)
    G(torch.eye(2))  # pre-activations [[10, 0, 1], [0, -12, 1]]: 2 and 4 beyond the bound
    penalty = bound.penalty()
    assert penalty.item() == pytest.approx((2.0 ** 2 + 4.0 ** 2) / 6)
    penalty.backward()
    assert G[0].weight.grad[0, 0] > 0 and G[0].weight.grad[1, 1] < 0 and G[0].weight.grad[2].abs().sum() == 0
    bound.remove()
    with pytest.raises(TrainingError, match="sigmoid or tanh"):
        OutputLogitBound(torch.nn.Sequential(torch.nn.Linear(2, 3)), 8.0)


def test_logit_bound_enters_g_loss_only(tmp_path, tiny_config, fake_data):
    losses = {}
    for bound in (0.0, 1e-3):
        cfg = tiny_config.replace(optim={"g_logit_bound": bound})
        trainer = Trainer(cfg, create_run_dir(tmp_path / str(bound), cfg), fake_data, progress=False)
        losses[bound] = trainer.train_step()
    assert losses[0.0]["loss_d"] == losses[1e-3]["loss_d"]  # the same first D step
    assert losses[1e-3]["loss_g"] > losses[0.0]["loss_g"]  # the penalty on top: G's outputs leave +-0.001
    with pytest.raises(ConfigError, match="g_logit_bound must be a number in"):
        tiny_config.replace(optim={"g_logit_bound": -1.0})


def test_eps_loss_form_matches_the_logit_form_away_from_saturation():
    logits = torch.linspace(-4, 4, 9)
    assert d_loss(logits, logits.flip(0), eps=1e-8) == pytest.approx(float(d_loss(logits, logits.flip(0))), rel=1e-5)
    assert g_loss(logits, eps=1e-8) == pytest.approx(float(g_loss(logits)), rel=1e-5)
    # at saturation the eps caps the loss at -log(eps) instead of growing with the logit
    assert g_loss(torch.tensor([-200.0]), eps=1e-8) == pytest.approx(-torch.log(torch.tensor(1e-8)).item(), rel=1e-4)
    assert g_loss(torch.tensor([-200.0])) == pytest.approx(200.0)


def test_epoch_sampling_visits_every_image_once_per_epoch():
    source = BatchSource(10, torch.Generator().manual_seed(0), sampling="epoch")
    first = torch.cat([source.indices(3) for _ in range(3)])  # 9 of 10: the last incomplete batch is dropped
    assert len(set(first.tolist())) == 9
    second = torch.cat([source.indices(3) for _ in range(3)])  # a new epoch, a new order
    assert len(set(second.tolist())) == 9 and not torch.equal(first, second)
    with pytest.raises(Exception, match="at least one full batch"):
        source.indices(11)


def test_epoch_sampling_resumes_bit_identically(tmp_path, tiny_config, fake_data):
    cfg = tiny_config.replace(train={"sampling": "epoch", "iterations": 6, "batch_size": 24})  # 64 images: 2 per epoch
    full = _train(cfg, tmp_path, fake_data, "full")
    part = _train(cfg.replace(train={"iterations": 4}), tmp_path, fake_data, "part")
    state = resume_state.load_state(part.run_dir / resume_state.STATE_NAME)
    assert state.sampler["position"] == 48 and state.sampler["order"].shape == (64,)
    resumed = infogan.train(resume=part.run_dir, data=fake_data, progress=False, iterations=6)
    assert _same(_weights(full.run_dir), _weights(resumed.run_dir))


def test_spectral_norm_once_per_iteration(tmp_path, fake_data):
    from infogan.models.spectral import PowerIterationSN

    cfg = infogan.get_preset("dsprites-cr").replace(
        optim={"sn_update": "per_iteration"}, data={"dataset": "fake"},
        train={"iterations": 2, "batch_size": 4, "tick": 1, "snapshot_every": 1, "precision": "fp32"})
    data = infogan.data.load_dataset("fake", image_size=64, channels=1)
    trainer = Trainer(cfg, create_run_dir(tmp_path, cfg), data, progress=False)
    sns = [m for m in trainer.model.modules() if isinstance(m, PowerIterationSN)]
    u0 = [m.u.clone() for m in sns]
    trainer.train_step()  # D runs four times, but u advances once, after the G step
    expected = []
    for m, u in zip(sns, u0):
        assert not torch.equal(m.u, u)
        expected.append(m.u.clone())
    with torch.no_grad():
        trainer.model.D(trainer.real_batch(4))  # a forward alone no longer advances it
    assert all(torch.equal(m.u, e) for m, e in zip(sns, expected))
    with pytest.raises(TrainingError, match="needs an architecture with that spectral norm"):
        Trainer(infogan.get_preset("fake").replace(optim={"sn_update": "per_iteration"}), tmp_path, fake_data,
                progress=False)


def test_consistency_in_d_only_leaves_g_loss_without_it(tiny_config, fake_data):
    from infogan.models import build_model

    cfg = tiny_config.replace(optim={"consistency": 1.0})
    model = build_model(cfg.model)
    latent = model.spec.sample(8, generator=torch.Generator().manual_seed(0))
    theta = Objective.from_config(cfg).transforms(8, generator=torch.Generator().manual_seed(1), device="cpu")
    fake = model.G(model.spec.g_input(latent.z, latent.codes))
    with_term = Objective.from_config(cfg).g_loss(model.D, fake, latent, theta)[0].detach()
    d_only = Objective.from_config(cfg.replace(optim={"consistency_to_g": False})).g_loss(model.D, fake, latent, theta)[0].detach()
    plain = Objective.from_config(cfg.replace(optim={"consistency": 0.0})).g_loss(model.D, fake, latent, None)[0].detach()
    assert float(d_only) == pytest.approx(float(plain)) and float(with_term) != pytest.approx(float(plain))


def test_evaluations_during_training_change_nothing_and_leave_a_curve(tmp_path, tiny_config, fake_data):
    cfg = tiny_config.replace(train={"iterations": 4, "tick": 2, "snapshot_every": 2})
    plain = _train(cfg, tmp_path, fake_data, "plain")
    curve = _train(cfg.replace(train={"eval_every": 2, "eval_samples": 200, "eval_metrics": "fid,info"}), tmp_path,
                   fake_data, "curve")
    assert _same(_weights(plain.run_dir), _weights(curve.run_dir))
    lines = [json.loads(x) for x in (curve.run_dir / "metric-fid_mnistnet_fake_n200.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [2, 4] and all(r["fid"] > 0 for r in lines)
    assert (curve.run_dir / "metric-info_bound_n200.jsonl").exists()
    with pytest.raises(ConfigError, match="does not apply"):
        _train(cfg.replace(train={"eval_every": 2, "eval_metrics": "mig"}), tmp_path, fake_data, "bad")


def test_set_overrides_any_field_with_a_clear_error():
    from infogan.cli.args import apply_settings

    cfg = apply_settings(infogan.get_preset("mnist"), ["optim.g_steps=2", "train.sampling=epoch",
                                                       "model.latent=noise10,cat3"])
    assert cfg.optim.g_steps == 2 and cfg.train.sampling == "epoch" and cfg.model.latent.g_input_dim == 13
    for bad, message in [("g_steps=2", "SECTION.FIELD=VALUE"), ("optim.nope=1", "unknown key"),
                         ("optim.g_latent=sideways", "g_latent must be one of")]:
        with pytest.raises(ConfigError, match=message):
            apply_settings(infogan.get_preset("mnist"), [bad])


def test_consistency_warmup_and_the_real_image_term(tiny_config, fake_data):
    from infogan.models import build_model

    cfg = tiny_config.replace(optim={"consistency": 1.0})
    torch.manual_seed(0)
    model = build_model(cfg.model)
    latent = model.spec.sample(8, generator=torch.Generator().manual_seed(0))
    theta = Objective.from_config(cfg).transforms(8, generator=torch.Generator().manual_seed(1), device="cpu")
    real = fake_data.images[:8].float() / 255
    fake = model.G(model.spec.g_input(latent.z, latent.codes)).detach()

    def loss(c, **kw):
        torch.manual_seed(2)  # batch norm in train mode: the same batches give the same statistics
        return float(Objective.from_config(c).d_loss(model.D, real, fake, latent, theta, **kw)[0].detach())

    off = loss(cfg.replace(optim={"consistency": 0.0}))
    assert loss(cfg, weight=0.0) == pytest.approx(off) and loss(cfg) != pytest.approx(off)  # the ramp starts at 0
    with_real = cfg.replace(optim={"consistency": 0.0, "consistency_real": 1.0})
    extra = loss(with_real) - off  # cross-entropy of Q's categories under the transforms: >= their entropy > 0
    assert extra > 0.0
    objective = Objective.from_config(with_real)
    q = model.D(real)[1]
    entropy = float(-(objective._categories(q)[0] * objective._categories(q)[0].clamp_min(1e-12).log()).sum(1).mean())
    assert extra >= entropy - 1e-4
    assert Objective.from_config(with_real).transforms(8, generator=torch.Generator(), device="cpu") is not None


def test_warmup_ramps_the_consistency_weight_in_the_loop(tmp_path, tiny_config, fake_data):
    cfg = tiny_config.replace(optim={"consistency": 1.0, "consistency_warmup": 1000})
    ramped = _train(cfg, tmp_path, fake_data, "ramped")
    full = _train(tiny_config.replace(optim={"consistency": 1.0}), tmp_path, fake_data, "full")
    assert not _same(_weights(ramped.run_dir), _weights(full.run_dir))
    with pytest.raises(ConfigError, match="consistency_warmup"):
        tiny_config.replace(optim={"consistency_warmup": -1})
