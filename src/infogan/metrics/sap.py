"""SAP: Separated Attribute Predictability (Kumar et al., ICLR 2018, Section 3).

A score matrix S (D codes x F factors) says how well each single code dimension predicts each factor;
the SAP score is the gap between the best and second-best code per factor, averaged over factors.
    * discrete factors (dSprites protocol): S[i, j] = test accuracy of a scikit-learn ``LinearSVC(C=0.01,
      class_weight="balanced")`` fitted on code i alone to predict factor j;
    * continuous factors: S[i, j] = squared Pearson correlation of code i and factor j on the training
      points (0 for a constant code).
With discrete factors even a perfect code cannot reach 1: the runner-up code still scores about the
chance accuracy of its (balanced) classifier, and a 1-D linear classifier separates many ordered classes
only in part. Compare SAP numbers only within one protocol.

Protocol (google-research/disentanglement_lib ``sap_score.gin``): 10,000 training and 5,000 test
points, ``continuous_factors=False``.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import LinearSVC

from infogan.errors import DataError
from infogan.metrics.mig import check_train_test

PROTOCOL = "sap_dsprites_10k"
NUM_TRAIN = 10_000  # disentanglement_lib sap_score.num_train
NUM_TEST = 5_000  # disentanglement_lib sap_score.num_test
SVC_C = 0.01  # disentanglement_lib sap_score._compute_score_matrix


def score_matrix(
    codes_train: np.ndarray,
    classes_train: np.ndarray,
    codes_test: np.ndarray,
    classes_test: np.ndarray,
    *,
    continuous: bool = False,
) -> np.ndarray:
    """Predictability of every factor from every single code dimension.

    Args:
        codes_train: float (N, D); classes_train: int (N, F).
        codes_test: float (M, D); classes_test: int (M, F) (unused when ``continuous``).
        continuous: treat factors as continuous (squared correlation) instead of discrete (LinearSVC).

    Returns:
        float array (D, F).
    """
    codes_train, classes_train, codes_test, classes_test = check_train_test(codes_train, classes_train, codes_test,
                                                                            classes_test)
    num_codes, num_factors = codes_train.shape[1], classes_train.shape[1]
    s = np.zeros((num_codes, num_factors))
    for j in range(num_factors):
        y = classes_train[:, j].astype(np.float64)
        if np.unique(y).size < 2:
            raise DataError(f"factor {j} takes a single value in the training sample; use more points")
        for i in range(num_codes):
            z = codes_train[:, i]
            if continuous:
                cov = np.cov(z, y, ddof=1)  # (2, 2)
                s[i, j] = cov[0, 1] ** 2 / (cov[0, 0] * cov[1, 1]) if cov[0, 0] > 1e-12 else 0.0
                continue
            model = LinearSVC(C=SVC_C, class_weight="balanced")
            with warnings.catch_warnings():  # liblinear's iteration cap is part of the protocol
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(z[:, None], classes_train[:, j])
            s[i, j] = np.mean(model.predict(codes_test[:, i, None]) == classes_test[:, j])
    return s


def sap(
    codes_train: np.ndarray,
    classes_train: np.ndarray,
    codes_test: np.ndarray,
    classes_test: np.ndarray,
    *,
    continuous: bool = False,
) -> dict:
    """SAP score of a representation.

    Args:
        codes_train: float (N, D), D >= 2; classes_train: int (N, F) factor classes.
        codes_test: float (M, D); classes_test: int (M, F).
        continuous: score factors as continuous (squared correlation) instead of discrete (default, the
            dSprites protocol).

    Returns:
        dict with ``score`` (mean top-two gap), ``per_factor`` (F gaps) and ``score_matrix`` (D x F).
    """
    if np.ndim(codes_train) == 2 and np.shape(codes_train)[1] < 2:
        raise DataError(f"SAP needs at least 2 code dimensions to take a gap, got {np.shape(codes_train)[1]}")
    s = score_matrix(codes_train, classes_train, codes_test, classes_test, continuous=continuous)
    top = np.sort(s, axis=0)[::-1]  # (D, F), best first
    per_factor = top[0] - top[1]
    return {"score": float(per_factor.mean()), "per_factor": per_factor.tolist(), "score_matrix": s.tolist()}
