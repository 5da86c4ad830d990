"""The latent spec against closed forms."""

import math

import pytest
import torch

from infogan.errors import ConfigError
from infogan.latent.spec import (
    Categorical,
    Continuous,
    LatentSpec,
    Noise,
    Uniform,
    gaussian_log_prob,
)
from infogan.latent.syntax import format_latent, parse_latent
from infogan.training.objective import info_loss


def test_parse_paper_mnist_layout():
    spec = parse_latent("noise62,cat10,unif2")
    assert spec.g_input_dim == 74  # Table 1: 62 noise + 10 one-hot + 2 continuous
    assert spec.q_output_dim == 10 + 2 * 2  # logits + (mean, log std) per continuous code
    assert [c.kind for c in spec.codes] == ["categorical", "continuous", "continuous"]
    fixed = parse_latent("noise62,cat10,unif2:std=fixed:lambda=0.1")
    assert fixed.q_output_dim == 12 and fixed.codes[1].lambda_info == 0.1


def test_describe_round_trips():
    spec = parse_latent("noise128:normal,cat10x3,gauss2:lambda=0.5:std=fixed:sigma=0.5,unif1")
    assert parse_latent(format_latent(spec)) == spec
    assert LatentSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize("bad", ["", "cat1", "cat10,foo3", "unif2:lambda=-1", "noise62:weird", "unif2x3",
                                 "cat10:lambda=abc", "cat0"])
def test_bad_specs_raise_clear_errors(bad):
    with pytest.raises(ConfigError):
        parse_latent(bad)


def test_categorical_log_likelihood_and_entropy():
    spec = LatentSpec(Noise(0), (Categorical(4),))
    logits = torch.randn(5, 4)
    c = torch.tensor([0, 1, 2, 3, 0])
    expected = torch.log_softmax(logits, 1)[torch.arange(5), c]
    torch.testing.assert_close(spec.log_q(logits, (c,))[:, 0], expected)
    assert spec.entropies()[0].item() == pytest.approx(math.log(4))


def test_gaussian_log_likelihood_closed_form():
    value, mean, log_std = torch.tensor([0.3]), torch.tensor([-0.2]), torch.tensor([math.log(0.7)])
    expected = -0.5 * math.log(2 * math.pi * 0.49) - (0.5 ** 2) / (2 * 0.49)
    assert gaussian_log_prob(value, mean, log_std).item() == pytest.approx(expected, rel=1e-6)
    learned = LatentSpec(Noise(0), (Uniform(),))
    q = torch.tensor([[-0.2, math.log(0.7)]])
    assert learned.log_q(q, (value,)).item() == pytest.approx(expected, rel=1e-6)
    fixed = LatentSpec(Noise(0), (Continuous("uniform", q_std="fixed", fixed_std=0.7),))
    assert fixed.log_q(torch.tensor([[-0.2]]), (value,)).item() == pytest.approx(expected, rel=1e-6)


def test_learned_std_is_clamped():
    spec = LatentSpec(Noise(0), (Uniform(),))
    post = spec.posterior(torch.tensor([[0.0, -100.0], [0.0, 100.0]]))
    assert post["stds"][0][0].item() == pytest.approx(math.exp(-5.0))
    assert post["stds"][0][1].item() == pytest.approx(math.exp(2.0))


def test_bound_never_exceeds_categorical_entropy():
    spec = LatentSpec(Noise(2), (Categorical(10),))
    latent = spec.sample(512, generator=torch.Generator().manual_seed(0))
    for scale in (0.0, 1.0, 10.0, 1000.0):  # from uninformative to a perfectly confident, correct Q
        logits = torch.nn.functional.one_hot(latent.codes[0], 10).float() * scale
        _, bound = info_loss(spec, logits, latent)
        assert bound.item() <= math.log(10) + 1e-6
    assert bound.item() == pytest.approx(math.log(10), abs=1e-4)  # a perfect Q reaches H(c)
    _, bound0 = info_loss(spec, torch.zeros(512, 10), latent)
    assert bound0.item() == pytest.approx(0.0, abs=1e-6)  # an uninformative Q gives L_I = 0


def test_prior_samples_have_the_right_distribution():
    spec = parse_latent("noise8:normal,cat5,unif1,gauss1")
    latent = spec.sample(20000, generator=torch.Generator().manual_seed(1))
    assert latent.z.shape == (20000, 8)
    assert latent.z.mean().abs() < 0.02 and (latent.z.std() - 1).abs() < 0.02
    counts = torch.bincount(latent.codes[0], minlength=5).float() / 20000
    assert (counts - 0.2).abs().max() < 0.015
    u = latent.codes[1]
    assert u.min() >= -1 and u.max() <= 1 and (u.var() - 1 / 3).abs() < 0.01  # Var U(-1,1) = 1/3
    assert (latent.codes[2].std() - 1).abs() < 0.03
    uniform_noise = parse_latent("noise4").sample(1000, generator=torch.Generator().manual_seed(0)).z
    assert uniform_noise.min() >= -1 and uniform_noise.max() <= 1


def test_sampling_is_fixed_by_the_generator():
    spec = parse_latent("noise62,cat10,unif2")
    a = spec.sample(4, generator=torch.Generator().manual_seed(7))
    b = spec.sample(4, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a.z, b.z) and all(torch.equal(x, y) for x, y in zip(a.codes, b.codes))


def test_g_input_layout():
    spec = parse_latent("noise3,cat4,unif1")
    z = torch.zeros(2, 3)
    x = spec.g_input(z, (torch.tensor([1, 3]), torch.tensor([0.5, -0.5])))
    assert x.shape == (2, 8)
    assert x[0, 3:7].tolist() == [0, 1, 0, 0] and x[1, 7].item() == -0.5
