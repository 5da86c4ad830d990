"""Hungarian accuracy, NMI and ARI against hand-computed cases."""

import math

import numpy as np
import pytest

from infogan.metrics.clustering import clustering_scores, hungarian_accuracy


def test_permuted_perfect_clustering_scores_one():
    labels = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([2, 2, 0, 0, 1, 1])
    out = clustering_scores(pred, labels)
    assert out["accuracy"] == 1.0 and out["nmi"] == pytest.approx(1.0) and out["ari"] == pytest.approx(1.0)
    assert out["mapping"] == {2: 0, 0: 1, 1: 2}


def test_hand_computed_case():
    # confusion (rows pred, cols label): [[2,1],[0,3]] -> best matching 0->0, 1->1: (2+3)/6
    labels = np.array([0, 0, 1, 1, 1, 1])
    pred = np.array([0, 0, 0, 1, 1, 1])
    out = hungarian_accuracy(pred, labels)
    assert out["accuracy"] == pytest.approx(5 / 6)
    assert out["confusion"] == [[2, 1], [0, 3]]


def test_merged_categories_are_one_to_one():
    # all predictions in one category: one-to-one matching credits only the largest class
    labels = np.array([0, 1, 1, 2, 2, 2])
    out = clustering_scores(np.zeros(6, dtype=int), labels, num_categories=3)
    assert out["accuracy"] == pytest.approx(0.5)
    assert out["nmi"] == pytest.approx(0.0) and out["ari"] == pytest.approx(0.0)
    assert out["usage_entropy"] == 0.0 and out["mapping"][0] == 2


def test_ari_hand_computed():
    # labels {0,0,1,1}, pred {0,1,0,1}: index = 0, expected = (2*2 / 6) ... ARI = -0.5
    out = clustering_scores(np.array([0, 1, 0, 1]), np.array([0, 0, 1, 1]))
    assert out["ari"] == pytest.approx(-0.5)
    assert out["usage_entropy"] == pytest.approx(math.log(2))
