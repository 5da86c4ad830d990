"""BetaVAE score (Higgins et al., 2017, "beta-VAE: Learning Basic Visual Concepts ...").

One training point: pick a random factor k, draw two batches of factor classes that agree on factor k
and are independent otherwise, encode both, and take the mean absolute difference of the paired codes
over the batch (one D-vector). A linear classifier (scikit-learn ``LogisticRegression``, defaults, as
disentanglement_lib's ``beta_vae_sklearn``) predicts k from that vector; the score is its accuracy on
fresh evaluation points. Chance level is about 1 / num_factors.

Protocol (google-research/disentanglement_lib ``beta_vae_sklearn.gin``): batches of 64 pairs,
10,000 training points and 5,000 evaluation points.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from infogan.errors import DataError
from infogan.metrics.factorvae import Represent, SampleFactors

PROTOCOL = "betavae_dsprites_10k"
BATCH_SIZE = 64  # disentanglement_lib beta_vae_sklearn.batch_size
NUM_TRAIN = 10_000
NUM_EVAL = 5_000


def betavae_points(
    sample_factors: SampleFactors,
    represent: Represent,
    rng: np.random.Generator,
    *,
    num_points: int,
    num_factors: int,
    batch_size: int = BATCH_SIZE,
    points_per_call: int = 32,
) -> tuple[np.ndarray, np.ndarray]:
    """Build BetaVAE-score points.

    Args:
        sample_factors: ``(rng, n) -> int (n, F)`` uniform factor sampler.
        represent: ``(classes (n, F), rng) -> float (n, D)``.
        rng: numpy random generator.
        num_points: number of points P.
        num_factors: F.
        batch_size: pairs averaged per point.
        points_per_call: points whose pairs are encoded in one ``represent`` call (speed only).

    Returns:
        (features float (P, D): mean |z1 - z2|; labels int64 (P,): the shared factor).
    """
    features, labels = [], []
    for start in range(0, num_points, points_per_call):
        v = min(points_per_call, num_points - start)
        fixed = rng.integers(0, num_factors, size=v)  # (V,)
        first = np.asarray(sample_factors(rng, v * batch_size)).reshape(v, batch_size, -1)  # (V, B, F)
        second = np.asarray(sample_factors(rng, v * batch_size)).reshape(v, batch_size, -1)
        if first.shape[2] != num_factors:
            raise DataError(f"the factor sampler returned {first.shape[2]} factors, expected {num_factors}")
        rows = np.arange(v)
        second[rows, :, fixed] = first[rows, :, fixed]  # the pair agrees on factor k
        both = np.concatenate([first, second], axis=1).reshape(2 * v * batch_size, num_factors)
        codes = np.asarray(represent(both, rng), dtype=np.float64)
        if codes.ndim != 2 or codes.shape[0] != both.shape[0]:
            raise DataError(f"the representation callback returned shape {codes.shape} for "
                            f"{both.shape[0]} points; it must return (n, D)")
        codes = codes.reshape(v, 2 * batch_size, -1)  # (V, 2B, D)
        diff = np.abs(codes[:, :batch_size] - codes[:, batch_size:]).mean(axis=1)  # (V, D)
        features.append(diff)
        labels.append(fixed)
    return np.concatenate(features), np.concatenate(labels).astype(np.int64)


def betavae_score(
    sample_factors: SampleFactors,
    represent: Represent,
    *,
    num_factors: int,
    rng: np.random.Generator,
    batch_size: int = BATCH_SIZE,
    num_train: int = NUM_TRAIN,
    num_eval: int = NUM_EVAL,
) -> dict:
    """BetaVAE score of a representation, driven by sampling callbacks.

    Args:
        sample_factors: ``(rng, n) -> int (n, F)`` uniform factor sampler.
        represent: ``(classes (n, F), rng) -> float (n, D)``: observe and encode.
        num_factors: F.
        rng: numpy random generator (also seeds the classifier).
        batch_size: pairs averaged per point (64).
        num_train: training points (10,000).
        num_eval: evaluation points (5,000).

    Returns:
        dict with ``score`` (= ``eval_accuracy``), ``train_accuracy`` and ``eval_accuracy``.
    """
    if min(num_train, num_eval, batch_size) < 1:
        raise DataError("num_train, num_eval and batch_size must all be >= 1")
    common = {"num_factors": num_factors, "batch_size": batch_size}
    x_train, y_train = betavae_points(sample_factors, represent, rng, num_points=num_train, **common)
    x_eval, y_eval = betavae_points(sample_factors, represent, rng, num_points=num_eval, **common)
    if np.unique(y_train).size < 2:
        raise DataError(f"all {num_train} training points fixed the same factor; use more training points")
    model = LogisticRegression(random_state=int(rng.integers(2**31)))
    with warnings.catch_warnings():  # lbfgs hitting max_iter is part of the default protocol, not an error
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x_train, y_train)
    train_accuracy = float(np.mean(model.predict(x_train) == y_train))
    eval_accuracy = float(np.mean(model.predict(x_eval) == y_eval))
    return {"score": eval_accuracy, "train_accuracy": train_accuracy, "eval_accuracy": eval_accuracy}
