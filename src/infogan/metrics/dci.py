"""DCI: Disentanglement, Completeness, Informativeness (Eastwood & Williams, ICLR 2018).

One gradient-boosting classifier per factor predicts the factor class from the whole code; its feature
importances form column j of the importance matrix R (D codes x F factors).
    * disentanglement: 1 - entropy (base F) of each code's row of R, weighted by the code's share of R;
    * completeness: 1 - entropy (base D) of each factor's column of R, weighted by the factor's share;
    * informativeness: the classifiers' mean test accuracy (train accuracy reported too).
A representation whose classifiers use no feature at all (R = 0) scores 0 disentanglement and
completeness, as in disentanglement_lib.

Protocol (google-research/disentanglement_lib ``dci.gin``): scikit-learn ``GradientBoostingClassifier``
with default settings (100 stages, depth 3), 10,000 training and 5,000 test points.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import entropy
from sklearn.ensemble import GradientBoostingClassifier

from infogan.errors import DataError
from infogan.metrics.mig import check_train_test

PROTOCOL = "dci_dsprites_10k"
NUM_TRAIN = 10_000  # disentanglement_lib dci.num_train
NUM_TEST = 5_000  # disentanglement_lib dci.num_test
_EPS = 1e-11  # added to R before the entropies, as disentanglement_lib, so all-zero rows are defined


def importance_matrix(
    codes_train: np.ndarray,
    classes_train: np.ndarray,
    codes_test: np.ndarray,
    classes_test: np.ndarray,
    *,
    seed: int = 0,
) -> tuple[np.ndarray, float, float]:
    """Fit one gradient-boosting classifier per factor.

    Args:
        codes_train: float (N, D); classes_train: int (N, F).
        codes_test: float (M, D); classes_test: int (M, F).
        seed: ``random_state`` of the classifiers (feature tie-breaking).

    Returns:
        (importance matrix R float (D, F), mean train accuracy, mean test accuracy).
    """
    codes_train, classes_train, codes_test, classes_test = check_train_test(codes_train, classes_train, codes_test,
                                                                            classes_test)
    num_codes, num_factors = codes_train.shape[1], classes_train.shape[1]
    r = np.zeros((num_codes, num_factors))
    train_acc, test_acc = [], []
    for j in range(num_factors):
        if np.unique(classes_train[:, j]).size < 2:
            raise DataError(f"factor {j} takes a single value in the training sample; use more points")
        model = GradientBoostingClassifier(random_state=seed)
        model.fit(codes_train, classes_train[:, j])
        r[:, j] = np.abs(model.feature_importances_)
        train_acc.append(np.mean(model.predict(codes_train) == classes_train[:, j]))
        test_acc.append(np.mean(model.predict(codes_test) == classes_test[:, j]))
    return r, float(np.mean(train_acc)), float(np.mean(test_acc))


def _weighted_specificity(r: np.ndarray) -> float:
    """sum_i w_i (1 - H_base(K)(p_i)) over the rows i of r (I x K), w_i the rows' share of r."""
    per_row = 1.0 - entropy(r.T + _EPS, base=r.shape[1])  # (I,) scipy normalises each row
    weight = np.ones_like(r) if r.sum() == 0 else r
    return float(np.sum(per_row * weight.sum(axis=1) / weight.sum()))


def disentanglement(r: np.ndarray) -> float:
    """Disentanglement of an importance matrix R (D, F): is each code about one factor?"""
    return _weighted_specificity(r)


def completeness(r: np.ndarray) -> float:
    """Completeness of an importance matrix R (D, F): is each factor captured by one code?"""
    return _weighted_specificity(r.T)


def dci(
    codes_train: np.ndarray,
    classes_train: np.ndarray,
    codes_test: np.ndarray,
    classes_test: np.ndarray,
    *,
    seed: int = 0,
) -> dict:
    """DCI scores of a representation.

    Args:
        codes_train: float (N, D); classes_train: int (N, F) factor classes.
        codes_test: float (M, D); classes_test: int (M, F).
        seed: ``random_state`` of the gradient-boosting classifiers.

    Returns:
        dict with ``score`` (= ``disentanglement``), ``disentanglement``, ``completeness``,
        ``informativeness_train``, ``informativeness_test`` (accuracies) and ``importance_matrix`` (D x F).
    """
    r, train_acc, test_acc = importance_matrix(codes_train, classes_train, codes_test, classes_test, seed=seed)
    d = disentanglement(r)
    return {
        "score": d,
        "disentanglement": d,
        "completeness": completeness(r),
        "informativeness_train": train_acc,
        "informativeness_test": test_acc,
        "importance_matrix": r.tolist(),
    }
