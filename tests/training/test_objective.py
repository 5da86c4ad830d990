"""Which parameters each loss reaches, and one training step's bookkeeping."""

import torch

from infogan.config import ModelConfig
from infogan.models import build_model
from infogan.training import objective as losses


def grads_of(model, loss):
    model.zero_grad(set_to_none=True)
    loss.backward()
    return {name: p.grad is not None and p.grad.abs().sum().item() > 0 for name, p in model.named_parameters()}


def test_information_loss_reaches_q_head_trunk_and_g_but_not_d_head():
    torch.manual_seed(0)
    model = build_model(ModelConfig())
    spec = model.spec
    latent = spec.sample(16, generator=torch.Generator().manual_seed(0))
    fake = model.G(spec.g_input(latent.z, latent.codes))
    _, q = model.D(fake)
    loss, bound = losses.info_loss(spec, q, latent)
    reached = grads_of(model, loss)
    assert all(v for k, v in reached.items() if k.startswith("D.q_head."))
    assert all(v for k, v in reached.items() if k.startswith("D.trunk.") and "weight" in k)
    assert all(v for k, v in reached.items() if k.startswith("G.") and "weight" in k)
    assert not any(v for k, v in reached.items() if k.startswith("D.d_head."))
    assert bound.shape == (3,)


def test_gan_loss_does_not_reach_q_head():
    torch.manual_seed(0)
    model = build_model(ModelConfig())
    real = torch.rand(8, 1, 28, 28)
    logit, _ = model.D(real)
    reached = grads_of(model, losses.d_loss(logit, logit))
    assert not any(v for k, v in reached.items() if k.startswith("D.q_head."))
    assert not any(v for k, v in reached.items() if k.startswith("G."))


def test_d_and_g_losses_closed_form():
    real, fake = torch.tensor([0.0]), torch.tensor([0.0])
    assert abs(losses.d_loss(real, fake).item() - 2 * torch.log(torch.tensor(2.0)).item()) < 1e-6
    assert abs(losses.g_loss(torch.tensor([0.0])).item() - torch.log(torch.tensor(2.0)).item()) < 1e-6


def test_g_phase_leaves_d_untouched_and_d_phase_leaves_g_untouched(tiny_config, fake_data, tmp_path):
    from infogan.training import Trainer
    from infogan.training.rundir import create_run_dir

    trainer = Trainer(tiny_config, create_run_dir(tmp_path, tiny_config), fake_data, progress=False)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.train_step()
    after = trainer.model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert any(k.startswith("G.") for k in changed) and any(k.startswith("D.q_head.") for k in changed)
    assert any(k.startswith("D.d_head.") for k in changed) and any(k.startswith("D.trunk.") for k in changed)
    # D's optimiser holds exactly D's (trunk, D head, Q head) parameters, G's exactly G's
    d_ids = {id(p) for g in trainer.opt_d.param_groups for p in g["params"]}
    g_ids = {id(p) for g in trainer.opt_g.param_groups for p in g["params"]}
    assert d_ids == {id(p) for p in trainer.model.D.parameters()}
    assert g_ids == {id(p) for p in trainer.model.G.parameters()}
