"""Mutual Information Gap (Chen et al., 2018, "Isolating Sources of Disentanglement in VAEs").

For every ground-truth factor, the gap between the largest and second-largest mutual information of the
factor with one code dimension, divided by the factor's entropy; averaged over factors.

Protocol (google-research/disentanglement_lib ``mig.gin``): 10,000 random points, each code dimension
discretised into 20 equal-width bins between its own minimum and maximum (``histogram_discretizer``),
discrete mutual information in nats against the factor classes.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import mutual_info_score

from infogan.errors import DataError

PROTOCOL = "mig_dsprites_10k"
NUM_TRAIN = 10_000  # disentanglement_lib mig.num_train
NUM_BINS = 20  # disentanglement_lib discretizer.num_bins


def check_codes_and_factors(codes: np.ndarray, factor_classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate a (codes, factor classes) pair and return them as float64 / int64 arrays.

    Args:
        codes: array (N, D) of representations.
        factor_classes: integer array (N, F) of ground-truth factor classes.

    Returns:
        (codes float64 (N, D), factor_classes int64 (N, F)).
    """
    codes = np.asarray(codes, dtype=np.float64)
    factor_classes = np.asarray(factor_classes)
    if codes.ndim != 2 or factor_classes.ndim != 2 or codes.shape[0] != factor_classes.shape[0]:
        raise DataError(f"expected codes (N, D) and factor classes (N, F) with the same N, "
                        f"got {codes.shape} and {factor_classes.shape}")
    if not np.isfinite(codes).all():
        raise DataError("codes contain NaN or inf; check the encoder output before scoring it")
    if not np.issubdtype(factor_classes.dtype, np.integer):
        raise DataError(f"factor classes must be integer class indices, got dtype {factor_classes.dtype}")
    return codes, factor_classes.astype(np.int64, copy=False)


def check_train_test(codes_train: np.ndarray, classes_train: np.ndarray, codes_test: np.ndarray,
                     classes_test: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`check_codes_and_factors` on a train and a test split that must have the same widths.

    Returns:
        (codes_train, classes_train, codes_test, classes_test) as float64 / int64 arrays.
    """
    codes_train, classes_train = check_codes_and_factors(codes_train, classes_train)
    codes_test, classes_test = check_codes_and_factors(codes_test, classes_test)
    if codes_test.shape[1] != codes_train.shape[1] or classes_test.shape[1] != classes_train.shape[1]:
        raise DataError(f"train and test sets differ in width: codes {codes_train.shape} vs {codes_test.shape}, "
                        f"factors {classes_train.shape} vs {classes_test.shape}")
    return codes_train, classes_train, codes_test, classes_test


def histogram_discretize(codes: np.ndarray, num_bins: int = NUM_BINS) -> np.ndarray:
    """Discretise each code dimension into ``num_bins`` equal-width bins over its own range.

    Args:
        codes: float array (N, D).
        num_bins: bins per dimension.

    Returns:
        int64 array (N, D) of bin indices in 1..num_bins (a constant dimension maps to one bin).
    """
    out = np.empty(codes.shape, dtype=np.int64)
    for d in range(codes.shape[1]):
        edges = np.histogram_bin_edges(codes[:, d], bins=num_bins)  # (num_bins + 1,)
        out[:, d] = np.digitize(codes[:, d], edges[:-1])  # the maximum falls in the last bin
    return out


def mutual_info_matrix(discrete_codes: np.ndarray, factor_classes: np.ndarray) -> np.ndarray:
    """Discrete mutual information (nats) between every code dimension and every factor.

    Args:
        discrete_codes: int array (N, D).
        factor_classes: int array (N, F).

    Returns:
        float array (D, F).
    """
    num_codes, num_factors = discrete_codes.shape[1], factor_classes.shape[1]
    m = np.empty((num_codes, num_factors))
    for i in range(num_codes):
        for j in range(num_factors):
            m[i, j] = mutual_info_score(factor_classes[:, j], discrete_codes[:, i])
    return m


def mig(codes: np.ndarray, factor_classes: np.ndarray, *, num_bins: int = NUM_BINS) -> dict:
    """Mutual Information Gap of a representation.

    Args:
        codes: array (N, D) of representations, D >= 2.
        factor_classes: integer array (N, F) of ground-truth factor classes.
        num_bins: equal-width bins per code dimension (20 in disentanglement_lib).

    Returns:
        dict with ``score`` (mean normalised gap, in [0, 1]), ``per_factor`` (F gaps) and
        ``mutual_info`` (D x F matrix in nats, as nested lists).
    """
    codes, factor_classes = check_codes_and_factors(codes, factor_classes)
    if codes.shape[1] < 2:
        raise DataError(f"MIG needs at least 2 code dimensions to take a gap, got {codes.shape[1]}")
    m = mutual_info_matrix(histogram_discretize(codes, num_bins), factor_classes)  # (D, F)
    entropy = np.array([mutual_info_score(y, y) for y in factor_classes.T])  # H(v_j) = I(v_j; v_j), (F,)
    if (entropy <= 0).any():
        j = int(np.argmin(entropy))
        raise DataError(f"factor {j} takes a single value in the sample, so its entropy is 0; "
                        "sample more points or drop that factor")
    top = np.sort(m, axis=0)[::-1]  # (D, F), largest first
    per_factor = (top[0] - top[1]) / entropy
    return {
        "score": float(per_factor.mean()),
        "per_factor": per_factor.tolist(),
        "mutual_info": m.tolist(),
    }
