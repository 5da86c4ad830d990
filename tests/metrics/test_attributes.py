"""Attribute measures on synthetic glyphs with a known slant and thickness, and the code-sweep driver on a
generator whose codes control slant and thickness by construction."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from infogan.config import ModelConfig
from infogan.errors import ConfigError
from infogan.latent.syntax import parse_latent
from infogan.metrics.attributes import (
    code_attribute_correlation,
    ink,
    measure,
    protocol_name,
    slant,
    summarise,
    sweep_correlations,
    thickness,
    width,
)
from infogan.models.base import Discriminator, InfoGAN
from infogan.reproduce.report.analysis import claim_verdicts, strongest_controls


def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


def bar(angle: float, w: float, *, length: float = 16, size: int = 28, soft: bool = False) -> np.ndarray:
    """A bar of width ``w`` rotated by ``angle`` degrees from vertical (top to the right); uint8 or float."""
    yy, xx = np.mgrid[0:size, 0:size].astype(float) - size // 2  # centred on a pixel: odd widths exact
    t = math.radians(angle)
    along = xx * math.sin(t) - yy * math.cos(t)
    across = -xx * math.cos(t) - yy * math.sin(t)
    if soft:  # edges blurred over about a pixel, like generated digits
        return _sigmoid(4 * (w / 2 - np.abs(across))) * _sigmoid(4 * (length / 2 - np.abs(along)))
    return ((np.abs(along) <= length / 2) & (np.abs(across) <= w / 2)).astype(np.uint8) * 255


def test_slant_recovers_the_rotation_of_a_bar():
    angles = [-30, -15, 0, 10, 25]
    measured = slant(np.stack([bar(a, 3) for a in angles]))
    assert np.all(np.diff(measured) > 0)
    assert np.allclose(measured, angles, atol=2.5)


def test_thickness_and_width_grow_with_the_stroke_and_ignore_slant():
    widths = [1, 3, 5, 7]
    upright = np.stack([bar(0, w) for w in widths])
    assert np.all(np.diff(thickness(upright)) > 0) and np.allclose(thickness(upright), widths, atol=0.01)
    assert np.all(np.diff(width(upright)) > 0) and np.allclose(width(upright), widths, atol=0.2)
    assert np.all(np.diff(ink(upright)) > 0)
    leaning = np.stack([bar(20, w) for w in widths])
    assert np.all(np.diff(thickness(leaning)) > 0)
    # a shear leaves the deslanted width unchanged
    sheared = np.zeros((28, 28), np.uint8)
    for row in range(6, 22):
        shift = (14 - row) // 3
        sheared[row, 12 + shift:15 + shift] = 255
    assert abs(width(sheared[None])[0] - 3.0) < 0.3 and slant(sheared[None])[0] > 10


def test_measures_accept_uint8_and_float_layouts_and_mark_blank_images():
    img = bar(15, 3)
    as_float = measure(img[None, None].astype(np.float32) / 255)
    as_uint8 = measure(torch.from_numpy(img[None]))
    for name in as_float:
        assert np.allclose(as_float[name], as_uint8[name])
    blank = measure(np.zeros((2, 28, 28), np.uint8))
    assert all(np.isnan(v).all() for k, v in blank.items() if k != "ink")
    with pytest.raises(ConfigError, match="unknown attribute"):
        measure(img[None], ["rotation"])
    with pytest.raises(ConfigError, match="shape"):
        measure(np.zeros(5))


def test_sweep_correlations_and_summary():
    values = np.linspace(-2, 2, 5)
    rows = np.stack([values * 3, -values, np.ones(5), [np.nan, 1, 2, 3, 4], [np.nan, 1, np.nan, 3, np.nan]])
    rho = sweep_correlations(values, rows)
    assert rho[0] == pytest.approx(1.0) and rho[1] == pytest.approx(-1.0) and rho[3] == pytest.approx(1.0)
    assert np.isnan(rho[2]) and np.isnan(rho[4])  # constant; fewer than 3 defined steps
    s = summarise(rho)
    assert s["valid"] == 3 and s["rho_mean"] == pytest.approx(1 / 3) and s["abs_rho_mean"] == pytest.approx(1.0)
    assert summarise(np.array([np.nan]))["rho_mean"] is None
    assert protocol_name(200, 9) == "code_attributes_200x9" and protocol_name(50, 9, 1.0).endswith("_span1")


class BarGenerator(nn.Module):
    """G for the latent 'noise2,cat3,unif2': c2 turns the bar (15 degrees per unit), c3 thickens it;
    the noise shifts it, the category lengthens it (both held fixed along a sweep)."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))  # generate() asks for the model's device

    def forward(self, x):
        images = []
        for row in x.tolist():
            z, cat, c2, c3 = row[:2], int(np.argmax(row[2:5])), row[5], row[6]
            img = bar(15 * c2, 2.5 + 0.75 * (c3 + 2), length=12 + 2 * cat, soft=True)
            images.append(np.roll(img, (round(z[0]), round(z[1])), axis=(0, 1)))
        return torch.tensor(np.stack(images), dtype=torch.float32)[:, None] + 0 * self.dummy


def bar_model() -> InfoGAN:
    cfg = ModelConfig(arch="mnist", latent=parse_latent("noise2,cat3,unif2"))
    return InfoGAN(cfg, BarGenerator(), Discriminator(nn.Identity(), nn.Identity(), nn.Identity()))


def test_code_sweeps_find_which_code_controls_what():
    result = code_attribute_correlation(bar_model(), draws=12, steps=7, attributes=("slant", "thickness", "width"))
    c2, c3 = result["codes"]["c2"], result["codes"]["c3"]
    assert c2["slant"]["rho_mean"] > 0.95 and c2["strongest"] == "slant" and c2["slant"]["sign_agreement"] == 1.0
    assert c3["thickness"]["rho_mean"] > 0.8 and c3["width"]["rho_mean"] > 0.95  # thickness: ties of whole pixels
    assert abs(c3["slant"]["rho_mean"]) < 0.5
    assert np.all(np.diff(c2["curve"]["slant"]) > 0) and len(c2["curve"]["values"]) == 7
    verdicts = {(v["code"], v["attribute"]): v for v in claim_verdicts([result, result])}
    assert verdicts[("c2", "slant")]["seeds_holding"] == 2
    assert verdicts[("c3", "thickness")]["seeds_holding"] == 2
    assert strongest_controls([result], ["slant", "thickness"]) == {"slant": ["c2"], "thickness": ["c3"]}


def test_code_sweep_validates_its_arguments():
    model = bar_model()
    with pytest.raises(ConfigError, match="not continuous"):
        code_attribute_correlation(model, codes=["c1"])
    with pytest.raises(ConfigError, match="draws >= 2"):
        code_attribute_correlation(model, draws=1)
    with pytest.raises(ConfigError, match="unknown attribute"):
        code_attribute_correlation(model, attributes=("rotation",))


@pytest.mark.realdata
def test_measures_follow_known_transformations_of_real_mnist_digits():
    from scipy import ndimage

    from infogan.data import load_dataset

    digits = load_dataset("mnist", split="test").images[:100, 0].numpy().astype(np.float64) / 255  # (100, 28, 28)
    c = 13.5

    def lean(img, angle):  # shear so that the top moves right by tan(angle) per row above the centre
        t = math.tan(math.radians(angle))
        return ndimage.affine_transform(img, [[1, 0], [t, 1]], offset=[0, -t * c], order=1)

    base = np.tan(np.radians(slant(digits)))
    for angle in (-20, 20):
        shift = np.tan(np.radians(slant(np.stack([lean(d, angle) for d in digits])))) - base
        assert np.median(shift) == pytest.approx(math.tan(math.radians(angle)), abs=0.03)
    bold = np.stack([ndimage.grey_dilation(d, size=(2, 2)) for d in digits])
    assert np.mean(thickness(bold) > thickness(digits)) > 0.9 and np.all(ink(bold) > ink(digits))
    wide = np.stack([ndimage.affine_transform(d, [[1, 0], [0, 1 / 1.3]], offset=[0, c - c / 1.3], order=1)
                     for d in digits])
    assert np.median(width(wide) / width(digits)) == pytest.approx(1.3, abs=0.05)
