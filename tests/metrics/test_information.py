"""The information driver on a model whose Q reads every code back exactly: the bound reaches its best value,
categories and R^2 are all recovered, and the text says so in plain numbers."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from infogan.api import describe_bound
from infogan.config import ModelConfig
from infogan.latent.syntax import parse_latent
from infogan.metrics.information import info_bound
from infogan.models.base import Discriminator, InfoGAN
from infogan.models.layers import Reshape


def _exact_model(spec_text: str, *, scale_logits: float = 50.0) -> InfoGAN:
    """G writes its input into the first pixels; Q reads the codes back from them (logits x scale, means as is)."""
    spec = parse_latent(spec_text)
    cfg = ModelConfig(arch="mnist", latent=spec)
    n, d = spec.noise.dim, spec.g_input_dim
    write = nn.Linear(d, 784, bias=False)
    read = nn.Linear(784, spec.q_output_dim, bias=False)
    with torch.no_grad():
        write.weight.zero_()
        write.weight[:d, :d] = torch.eye(d)
        read.weight.zero_()
        row, col = 0, n
        for code in spec.codes:
            width = code.k if hasattr(code, "k") else 1
            for j in range(width):
                read.weight[row + j, col + j] = scale_logits if width > 1 else 1.0
            row += code.q_dim
            col += width
    G = nn.Sequential(write, Reshape(1, 28, 28))
    D = Discriminator(nn.Flatten(), nn.Linear(784, 1), read)
    return InfoGAN(cfg, G, D)


def test_a_perfect_q_reaches_the_best_bound_and_recovers_everything():
    model = _exact_model("noise2,cat3,unif1:std=fixed")
    r = info_bound(model, num_samples=400, batch_size=100)
    assert r["recovered"]["c1"] == 1.0 and r["recovered"]["c2"] == pytest.approx(1.0)
    assert r["c1"] == pytest.approx(math.log(3), abs=1e-6)  # ln K
    best = math.log(2) - 0.5 * math.log(2 * math.pi)  # Uniform(-1, 1), Q's std fixed at 1, mean exact
    assert r["best"]["c2"] == pytest.approx(best) and r["c2"] == pytest.approx(best, abs=1e-5)
    assert r["gap"]["c2"] == pytest.approx(0.0, abs=1e-5) and r["kind"]["c2"] == "continuous, fixed std"
    assert describe_bound("c2", r) == "c2 -0.226 nats (best possible -0.226 with Q's std fixed; R^2 1.000)"
    assert describe_bound("c1", r).endswith("(100.0% of categories recovered)")


def test_a_q_that_reads_nothing_recovers_nothing():
    model = _exact_model("noise2,cat3,unif1:std=fixed")
    with torch.no_grad():
        model.D.q_head.weight.zero_()  # constant posterior: uniform categories, mean 0
    r = info_bound(model, num_samples=600, batch_size=200)
    assert abs(r["recovered"]["c1"] - 1 / 3) < 0.08 and abs(r["recovered"]["c2"]) < 0.02
    assert r["c1"] == pytest.approx(0.0, abs=1e-6) and r["gap"]["c2"] > 0.1
