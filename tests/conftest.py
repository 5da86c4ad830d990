"""Shared fixtures: tiny fake data, tiny configs, a trained tiny run."""

from __future__ import annotations

import pytest
import torch

import infogan
from infogan.data.base import ImageData


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
