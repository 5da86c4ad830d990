"""Sanity checks of the disentanglement metrics on synthetic ground truth (disentanglement_lib style).

The synthetic ground truth has 4 factors with 3, 4, 5 and 6 classes whose "observations" are the
classes themselves, so an encoder is any map of the factor vector. Counts are reduced (2,000 train /
1,000 test points or votes) to keep the file fast; the protocol names then say so.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from infogan.errors import ConfigError, DataError
from infogan.metrics import betavae, dci, factorvae, mig, sap
from infogan.metrics.disentanglement import (
    DISENTANGLEMENT_METRICS,
    SyntheticGroundTruth,
    evaluate_disentanglement,
    protocol_name,
)

SIZES = (3, 4, 5, 6)
CHANCE = 1 / len(SIZES)  # FactorVAE / BetaVAE chance accuracy: guessing the fixed factor
N_TRAIN, N_TEST = 2000, 1000


def _scores(encode, sizes=SIZES, **kwargs) -> dict[str, float]:
    """{metric: score} of an encoder on the synthetic ground truth, names checked on the way."""
    results = evaluate_disentanglement(encode, ground_truth=SyntheticGroundTruth(sizes), seed=0,
                                       num_train=N_TRAIN, num_test=N_TEST, **kwargs)
    out = {}
    for name, result in results.items():
        metric = name.split("_")[0]
        assert name == f"{metric}_synthetic_n{N_TRAIN}" + ("" if metric == "mig" else f"_{N_TEST}")
        assert np.isfinite(result["score"])
        out[metric] = result["score"]
        out[metric + "_result"] = result
    return out


def _perfect(x):  # each code a monotone map of one factor (few enough classes for MIG's 20 bins)
    return np.stack([2 * x[:, 0] + 1, -x[:, 1], x[:, 2] ** 1.5, x[:, 3]], axis=1)


def _rotated(x):  # every code mixes every factor
    q, _ = np.linalg.qr(np.random.default_rng(123).normal(size=(4, 4)))
    centred = (x - (np.array(SIZES) - 1) / 2) / np.array(SIZES)
    return centred @ q


@pytest.fixture(scope="module")
def perfect():
    return _scores(_perfect)


@pytest.fixture(scope="module")
def rotated():
    return _scores(_rotated)


def test_perfect_code_scores_about_one(perfect):
    # Near-ceiling bounds: finite samples bias the runner-up MI up by ~(K1-1)(K2-1)/(2N) nats (~0.01
    # of the entropy here), and every classifier separates exact factor copies perfectly.
    assert perfect["mig"] > 0.95
    assert perfect["factorvae"] > 0.99
    assert perfect["betavae"] > 0.99
    assert perfect["dci"] > 0.95
    assert perfect["dci_result"]["completeness"] > 0.95
    assert perfect["dci_result"]["informativeness_test"] > 0.99


def test_perfect_code_sap():
    # Continuous SAP (squared correlation, disentanglement_lib's own unit-test setting) of exact copies
    # is ~1; discrete SAP (the dSprites protocol) is capped by 1 - chance accuracy of the runner-up
    # code: for binary factors the best code is ~100 % accurate and the runner-up ~50 %, so ~0.5.
    assert _scores(_perfect, metrics=["sap"], sap_continuous=True)["sapc"] > 0.95
    binary = _scores(lambda x: x + 0.0, sizes=(2, 2, 2, 2), metrics=["sap"])
    assert 0.4 < binary["sap"] < 0.6
    assert np.allclose(np.diag(binary["sap_result"]["score_matrix"]), 1.0)


def test_constant_code_scores_about_zero():
    # A constant code carries no information: gaps are exactly 0, FactorVAE prunes every dimension
    # (score defined as 0); BetaVAE can only guess the fixed factor, so chance 1/4 plus sampling noise.
    s = _scores(lambda x: np.zeros((len(x), 3)))
    assert s["mig"] < 0.01 and s["sap"] < 0.01 and s["dci"] < 0.01
    assert s["factorvae"] == 0.0 and s["factorvae_result"]["num_active_dims"] == 0
    assert s["betavae"] < CHANCE + 0.1


def test_noise_code_scores_chance():
    # Pure noise: MI and SAP gaps are only estimation bias (< 0.05); FactorVAE / BetaVAE at chance 1/4
    # (+-0.1 covers the binomial spread of 1,000 evaluation votes and the classifier's overfit).
    rng = np.random.default_rng(7)
    s = _scores(lambda x: rng.normal(size=(len(x), 4)), metrics=["mig", "factorvae", "sap", "betavae"])
    assert s["mig"] < 0.05 and s["sap"] < 0.05
    assert abs(s["factorvae"] - CHANCE) < 0.1 and abs(s["betavae"] - CHANCE) < 0.1


def test_duplicated_code_has_no_gap():
    # Two identical copies of each factor: best and runner-up codes tie, so MIG and SAP gaps are ~0
    # (disentanglement_lib's duplicated-latent test); DCI completeness halves (each factor spread over
    # two codes: 1 - log_8(2) = 2/3 at best).
    s = _scores(lambda x: np.concatenate([x, x], axis=1), metrics=["mig", "sap", "dci"])
    assert s["mig"] < 0.01 and s["sap"] < 0.05
    assert s["dci_result"]["completeness"] < 0.75


def test_rotation_lowers_scores(perfect, rotated):
    # A random rotation mixes all factors into every code. Histogram MI and DCI are hit hardest; the
    # FactorVAE vote still finds a least-varying code, and BetaVAE's linear probe on mean |z1 - z2| is
    # partly rotation-robust, so for those two we only require a clear drop.
    assert rotated["mig"] < 0.5 * perfect["mig"]
    assert rotated["dci"] < 0.5 * perfect["dci"]
    assert rotated["sap"] < 0.5 * perfect["sap"]
    assert rotated["factorvae"] < perfect["factorvae"] - 0.1
    assert rotated["betavae"] < perfect["betavae"] - 0.03


def test_pure_functions_on_hand_made_arrays():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, size=(3000, 2))
    codes = np.stack([y[:, 0], y[:, 1], rng.normal(size=3000)], axis=1).astype(float)
    result = mig.mig(codes, y)
    assert result["score"] > 0.95 and len(result["per_factor"]) == 2
    assert np.array(result["mutual_info"]).shape == (3, 2)
    assert dci.disentanglement(np.eye(3)) == pytest.approx(1.0)
    assert dci.completeness(np.eye(3)) == pytest.approx(1.0)
    assert dci.disentanglement(np.ones((3, 3))) == pytest.approx(0.0, abs=1e-9)
    assert dci.disentanglement(np.zeros((3, 3))) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(DataError, match="2 code dimensions"):
        mig.mig(codes[:, :1], y)
    with pytest.raises(DataError, match="single value"):
        mig.mig(codes, np.zeros_like(y))
    with pytest.raises(DataError, match="NaN"):
        mig.mig(np.full_like(codes, np.nan), y)


def test_protocol_names():
    defaults = {"mig": mig, "factorvae": factorvae, "dci": dci, "sap": sap, "betavae": betavae}
    for metric, module in defaults.items():
        train, test = module.NUM_TRAIN, getattr(module, "NUM_TEST", getattr(module, "NUM_EVAL", None))
        assert protocol_name(metric, "dsprites", train, None if metric == "mig" else test) == module.PROTOCOL
    assert protocol_name("mig", "dsprites", 2000, None) == "mig_dsprites_n2000"
    assert protocol_name("dci", "dsprites", 2000, 1000) == "dci_dsprites_n2000_1000"
    assert set(DISENTANGLEMENT_METRICS) == set(defaults)


def test_driver_rejects_bad_input():
    gt = SyntheticGroundTruth(SIZES)
    with pytest.raises(ConfigError, match="unknown"):
        evaluate_disentanglement(lambda x: x, metrics=["fid"], ground_truth=gt)
    with pytest.raises(DataError, match=r"\(B, D\)"):
        evaluate_disentanglement(lambda x: x[:, 0], metrics=["mig"], ground_truth=gt, num_train=100)


def _image_statistics(images: torch.Tensor) -> np.ndarray:
    """Centroid x, centroid y and area of uint8 sprites (B, 1, 64, 64) -> (B, 3)."""
    x = images[:, 0].float() / 255  # (B, 64, 64)
    area = x.sum(dim=(1, 2))
    grid = torch.arange(64, dtype=torch.float32) + 0.5
    cx = (x.sum(dim=1) * grid).sum(dim=1) / area
    cy = (x.sum(dim=2) * grid).sum(dim=1) / area
    return torch.stack([cx, cy, area], dim=1).numpy()


def test_end_to_end_on_rendered_dsprites():
    # Centroids read the position off the image almost exactly, so MIG for pos_x / pos_y is high
    # (20 bins for 32 classes cap it near log 20 / log 32 = 0.86); 0.5 leaves room for sampling bias.
    results = evaluate_disentanglement(_image_statistics, metrics=["mig"], num_train=2000)
    per_factor = results["mig_dsprites_n2000"]["per_factor"]
    assert per_factor[3] > 0.5 and per_factor[4] > 0.5
    small = evaluate_disentanglement(_image_statistics, metrics=list(DISENTANGLEMENT_METRICS), num_train=200)
    assert sorted(small) == sorted(f"{m}_dsprites_n200" + ("" if m == "mig" else "_100") for m in DISENTANGLEMENT_METRICS)
    assert all(np.isfinite(r["score"]) and 0 <= r["score"] <= 1 for r in small.values())
