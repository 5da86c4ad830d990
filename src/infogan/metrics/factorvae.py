"""FactorVAE score (Kim & Mnih, 2018, "Disentangling by Factorising").

One *vote*: fix a random factor k at one value, draw a batch of observations whose other factors are
random, encode them, divide each code dimension's variance in the batch by its global variance, and vote
(k, argmin dimension). A majority-vote classifier maps each code dimension to the factor it received
most training votes from; the score is that classifier's accuracy on fresh evaluation votes. Chance
level is about 1 / num_factors; a representation with no active dimension scores 0.

Protocol (google-research/disentanglement_lib ``factor_vae_metric.gin``): global variances from 10,000
points (ddof=1), dimensions with standard deviation < 0.05 pruned, batches of 64, 10,000 training votes
and 5,000 evaluation votes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from infogan.errors import DataError

PROTOCOL = "factorvae_dsprites_10k"
BATCH_SIZE = 64  # disentanglement_lib factor_vae_score.batch_size
NUM_TRAIN = 10_000  # training votes
NUM_EVAL = 5_000  # evaluation votes
NUM_VARIANCE_ESTIMATE = 10_000  # points for the global variances
PRUNE_THRESHOLD = 0.05  # prune_dims.threshold: minimum global standard deviation of an active dimension

SampleFactors = Callable[[np.random.Generator, int], np.ndarray]  # (rng, n) -> classes (n, F)
Represent = Callable[[np.ndarray, np.random.Generator], np.ndarray]  # (classes (n, F), rng) -> codes (n, D)


def fixed_factor_batches(
    sample_factors: SampleFactors, rng: np.random.Generator, num_batches: int, batch_size: int, num_factors: int
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``num_batches`` batches of factor classes, each with one random factor held at one value.

    Args:
        sample_factors: ``(rng, n) -> (n, F)`` uniform sampler of factor classes.
        rng: numpy random generator.
        num_batches: number of batches V.
        batch_size: points per batch B.
        num_factors: F.

    Returns:
        (fixed factor index per batch, int64 (V,); classes, int64 (V, B, F)). The fixed factor takes the
        value of the batch's first point, as in disentanglement_lib.
    """
    fixed = rng.integers(0, num_factors, size=num_batches)  # (V,)
    classes = np.asarray(sample_factors(rng, num_batches * batch_size)).reshape(num_batches, batch_size, -1)
    if classes.shape[2] != num_factors:
        raise DataError(f"the factor sampler returned {classes.shape[2]} factors, expected {num_factors}")
    rows = np.arange(num_batches)
    classes[rows, :, fixed] = classes[rows, 0, fixed][:, None]  # (V, B) <- (V, 1)
    return fixed, classes


def _represent_batches(represent: Represent, classes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Encode classes (V, B, F) -> codes (V, B, D), checking the callback's output shape."""
    v, b, f = classes.shape
    codes = np.asarray(represent(classes.reshape(v * b, f), rng), dtype=np.float64)
    if codes.ndim != 2 or codes.shape[0] != v * b:
        raise DataError(f"the representation callback returned shape {codes.shape} for {v * b} points; "
                        "it must return (n, D)")
    return codes.reshape(v, b, -1)


def _votes(
    sample_factors: SampleFactors,
    represent: Represent,
    rng: np.random.Generator,
    *,
    num_votes: int,
    num_factors: int,
    batch_size: int,
    global_variances: np.ndarray,
    active: np.ndarray,
    votes_per_call: int,
) -> np.ndarray:
    """Vote counts (F, D): how often fixing factor k made dimension d the least variable."""
    active_idx = np.flatnonzero(active)  # (A,)
    votes = np.zeros((num_factors, global_variances.shape[0]), dtype=np.int64)
    for start in range(0, num_votes, votes_per_call):
        v = min(votes_per_call, num_votes - start)
        fixed, classes = fixed_factor_batches(sample_factors, rng, v, batch_size, num_factors)
        codes = _represent_batches(represent, classes, rng)  # (V, B, D)
        local = codes.var(axis=1, ddof=1)  # (V, D)
        ratio = local[:, active_idx] / global_variances[active_idx]  # (V, A)
        np.add.at(votes, (fixed, active_idx[ratio.argmin(axis=1)]), 1)
    return votes


def factorvae_score(
    sample_factors: SampleFactors,
    represent: Represent,
    *,
    num_factors: int,
    rng: np.random.Generator,
    batch_size: int = BATCH_SIZE,
    num_train: int = NUM_TRAIN,
    num_eval: int = NUM_EVAL,
    num_variance_estimate: int = NUM_VARIANCE_ESTIMATE,
    prune_threshold: float = PRUNE_THRESHOLD,
    votes_per_call: int = 64,
) -> dict:
    """FactorVAE score of a representation, driven by sampling callbacks.

    Args:
        sample_factors: ``(rng, n) -> int (n, F)``, uniform random factor classes.
        represent: ``(classes (n, F), rng) -> float (n, D)``: make observations of the classes and encode
            them (e.g. render dSprites and run Q), or any map for a synthetic ground truth.
        num_factors: F.
        rng: numpy random generator (the only source of randomness).
        batch_size: points per vote (64).
        num_train: training votes (10,000).
        num_eval: evaluation votes (5,000).
        num_variance_estimate: points for the global variances (10,000).
        prune_threshold: dimensions whose global standard deviation is below it are ignored (0.05).
        votes_per_call: votes whose batches are encoded together in one ``represent`` call (speed only).

    Returns:
        dict with ``score`` (= ``eval_accuracy``), ``train_accuracy``, ``eval_accuracy``,
        ``num_active_dims`` and the ``classifier`` (factor assigned to each code dimension).
    """
    if min(batch_size, num_train, num_eval, num_variance_estimate) < 2:
        raise DataError("batch_size, num_train, num_eval and num_variance_estimate must all be >= 2")
    classes = np.asarray(sample_factors(rng, num_variance_estimate))
    codes = np.asarray(represent(classes, rng), dtype=np.float64)  # (N, D)
    if codes.ndim != 2 or codes.shape[0] != num_variance_estimate:
        raise DataError(f"the representation callback returned shape {codes.shape} for "
                        f"{num_variance_estimate} points; it must return (n, D)")
    global_variances = codes.var(axis=0, ddof=1)  # (D,)
    active = np.sqrt(global_variances) >= prune_threshold
    if not active.any():  # every dimension collapsed: disentanglement_lib scores this 0
        return {"score": 0.0, "train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0,
                "classifier": []}
    common = {"num_factors": num_factors, "batch_size": batch_size, "global_variances": global_variances,
              "active": active, "votes_per_call": votes_per_call}
    train_votes = _votes(sample_factors, represent, rng, num_votes=num_train, **common)  # (F, D)
    classifier = train_votes.argmax(axis=0)  # (D,) majority factor of each dimension
    dims = np.arange(train_votes.shape[1])
    train_accuracy = train_votes[classifier, dims].sum() / train_votes.sum()
    eval_votes = _votes(sample_factors, represent, rng, num_votes=num_eval, **common)
    eval_accuracy = eval_votes[classifier, dims].sum() / eval_votes.sum()
    return {
        "score": float(eval_accuracy),
        "train_accuracy": float(train_accuracy),
        "eval_accuracy": float(eval_accuracy),
        "num_active_dims": int(active.sum()),
        "classifier": classifier.tolist(),
    }
