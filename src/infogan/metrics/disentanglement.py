"""Drivers of the disentanglement metrics: ground truths, sampling, encoding and protocol names.

A :class:`GroundTruth` knows its discrete factors and turns factor classes into observations;
:func:`evaluate_disentanglement` samples it, encodes the observations with ``encode_fn`` (for InfoGAN:
Q's continuous means) and runs the pure metrics of ``mig``, ``factorvae``, ``dci``, ``sap`` and
``betavae`` with disentanglement_lib's default sample counts. Results are keyed by a protocol name such
as ``mig_dsprites_10k``; runs with other sample counts get names like ``mig_dsprites_n2000`` or
``dci_dsprites_n2000_1000`` (train, test), so numbers are never compared across protocols.

Example::

    results = evaluate_disentanglement(lambda x: q_means(x), metrics=["mig", "factorvae"])
    results["mig_dsprites_10k"]["score"]
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from infogan.data import dsprites
from infogan.errors import ConfigError, DataError
from infogan.metrics import betavae, dci, factorvae, mig, sap

DISENTANGLEMENT_METRICS = ("mig", "factorvae", "dci", "sap", "betavae")

# Default (train, test) counts of each protocol; MIG has no test set. For FactorVAE "train" is both the
# number of training votes and of variance-estimate points, "test" the evaluation votes.
DEFAULT_COUNTS: dict[str, tuple[int, int | None]] = {
    "mig": (mig.NUM_TRAIN, None),
    "factorvae": (factorvae.NUM_TRAIN, factorvae.NUM_EVAL),
    "dci": (dci.NUM_TRAIN, dci.NUM_TEST),
    "sap": (sap.NUM_TRAIN, sap.NUM_TEST),
    "betavae": (betavae.NUM_TRAIN, betavae.NUM_EVAL),
}

EncodeFn = Callable[[Any], Any]  # observations (B, ...) -> codes (B, D), numpy array or tensor


class GroundTruth(ABC):
    """A data set with known discrete factors of variation, sampled uniformly and independently.

    Subclasses set ``name`` and ``factor_sizes`` and turn factor classes into observations.
    """

    name: str = "ground_truth"
    factor_sizes: tuple[int, ...] = ()

    @property
    def num_factors(self) -> int:
        """Number of factors F."""
        return len(self.factor_sizes)

    def sample_factor_classes(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Draw n independent uniform factor-class vectors.

        Args:
            rng: numpy random generator.
            n: number of samples.

        Returns:
            int64 array (n, F).
        """
        return np.stack([rng.integers(0, s, size=n) for s in self.factor_sizes], axis=1).astype(np.int64)

    @abstractmethod
    def sample_observations_from_factors(self, classes: np.ndarray, rng: np.random.Generator) -> Any:
        """Observations (B, ...) of the factor classes (B, F)."""


class DSpritesGroundTruth(GroundTruth):
    """dSprites rendered on demand by :func:`infogan.data.dsprites.render_dsprites` (no full cache)."""

    name = "dsprites"
    factor_sizes = dsprites.FACTOR_SIZES

    def sample_factor_classes(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Uniform dSprites factor classes, int64 (n, 5)."""
        return dsprites.sample_factor_classes(rng, n)

    def sample_observations_from_factors(self, classes: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        """Render the sprites: uint8 tensor (B, 1, 64, 64) with values 0/255, like ImageData images."""
        images = dsprites.render_dsprites(classes)  # (B, 64, 64) {0, 1}
        np.multiply(images, 255, out=images)
        return torch.from_numpy(images).unsqueeze(1)


class SyntheticGroundTruth(GroundTruth):
    """Factors that observe themselves: the observation of classes (B, F) is those classes as float64.

    Args:
        factor_sizes: number of classes of each factor.
        name: dataset part of the protocol names.
    """

    def __init__(self, factor_sizes: Sequence[int], name: str = "synthetic") -> None:
        if len(factor_sizes) < 2 or min(factor_sizes) < 2:
            raise ConfigError(f"a synthetic ground truth needs >= 2 factors of >= 2 classes, got {factor_sizes}")
        self.factor_sizes = tuple(int(s) for s in factor_sizes)
        self.name = name

    def sample_observations_from_factors(self, classes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The classes themselves as float64 (B, F)."""
        return np.asarray(classes, dtype=np.float64)


def protocol_name(metric: str, dataset: str, num_train: int, num_test: int | None) -> str:
    """Name of a protocol: ``{metric}_{dataset}_10k`` for the defaults, else with the counts.

    Args:
        metric: one of :data:`DISENTANGLEMENT_METRICS`.
        dataset: ground-truth name, e.g. "dsprites".
        num_train: training points (votes) used.
        num_test: test points (votes) used, None for MIG.

    Returns:
        e.g. "mig_dsprites_10k", "mig_dsprites_n2000", "dci_dsprites_n2000_1000".
    """
    if (num_train, num_test) == DEFAULT_COUNTS[metric]:
        return f"{metric}_{dataset}_10k"
    return f"{metric}_{dataset}_n{num_train}" + ("" if num_test is None else f"_{num_test}")


def make_represent(
    encode_fn: EncodeFn, ground_truth: GroundTruth, *, batch_size: int = 1024
) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    """Wrap observation + encoding into ``represent(classes (n, F), rng) -> codes float64 (n, D)``.

    Args:
        encode_fn: observations (B, ...) -> codes (B, D) as a numpy array or tensor.
        ground_truth: source of the observations.
        batch_size: observations passed to ``encode_fn`` per call.

    Returns:
        the ``represent`` callback the metrics take.
    """

    def represent(classes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        parts = []
        for start in range(0, classes.shape[0], batch_size):
            chunk = classes[start : start + batch_size]
            codes = encode_fn(ground_truth.sample_observations_from_factors(chunk, rng))
            if isinstance(codes, torch.Tensor):
                codes = codes.detach().float().cpu().numpy()
            codes = np.asarray(codes, dtype=np.float64)
            if codes.ndim != 2 or codes.shape[0] != chunk.shape[0]:
                raise DataError(f"encode_fn returned shape {codes.shape} for a batch of {chunk.shape[0]} "
                                "observations; it must return (B, D)")
            parts.append(codes)
        return np.concatenate(parts)

    return represent


def _counts(metric: str, num_train: int | None, num_test: int | None) -> tuple[int, int | None]:
    """Resolve the sample counts: defaults, or the given ones (test defaults to half of train)."""
    default_train, default_test = DEFAULT_COUNTS[metric]
    train = default_train if num_train is None else int(num_train)
    if default_test is None:
        return train, None
    test = int(num_test) if num_test is not None else (default_test if num_train is None else max(train // 2, 1))
    return train, test


def evaluate_disentanglement(
    encode_fn: EncodeFn,
    *,
    metrics: Sequence[str] = DISENTANGLEMENT_METRICS,
    seed: int = 0,
    num_train: int | None = None,
    num_test: int | None = None,
    ground_truth: GroundTruth | None = None,
    batch_size: int = 1024,
    sap_continuous: bool = False,
) -> dict[str, dict]:
    """Score a representation with disentanglement_lib's protocols.

    Args:
        encode_fn: observations -> codes (B, D); for dSprites it gets uint8 tensors (B, 1, 64, 64) with
            values 0/255 and should return e.g. Q's continuous means as a numpy array (B, D).
        metrics: names from :data:`DISENTANGLEMENT_METRICS`.
        seed: seeds every draw; each metric gets its own stream, so a score does not depend on which
            other metrics run.
        num_train: training points (votes) instead of the protocol's 10,000 (the name then says so).
        num_test: test points (votes); defaults to 5,000, or half of ``num_train`` when that is given.
        ground_truth: factor source; rendered dSprites by default.
        batch_size: observations per ``encode_fn`` call.
        sap_continuous: score SAP with continuous factors (not the dSprites protocol; named ``sapc``).

    Returns:
        {protocol name: result dict of the metric, with ``protocol``, ``num_train`` and ``num_test`` added}.
    """
    unknown = [m for m in metrics if m not in DISENTANGLEMENT_METRICS]
    if unknown or not metrics:
        raise ConfigError(f"unknown disentanglement metrics {unknown}; choose from {DISENTANGLEMENT_METRICS}")
    if (num_train is not None and num_train < 2) or (num_test is not None and num_test < 2):
        raise ConfigError(f"num_train and num_test must be >= 2, got {num_train} and {num_test}")
    gt = DSpritesGroundTruth() if ground_truth is None else ground_truth
    represent = make_represent(encode_fn, gt, batch_size=batch_size)
    results: dict[str, dict] = {}
    for metric in metrics:
        rng = np.random.default_rng([seed, DISENTANGLEMENT_METRICS.index(metric)])  # own stream per metric
        train, test = _counts(metric, num_train, num_test)
        if metric == "mig":
            classes = gt.sample_factor_classes(rng, train)
            result = mig.mig(represent(classes, rng), classes)
        elif metric == "factorvae":
            result = factorvae.factorvae_score(gt.sample_factor_classes, represent, num_factors=gt.num_factors,
                                               rng=rng, num_train=train, num_eval=test, num_variance_estimate=train)
        elif metric == "betavae":
            result = betavae.betavae_score(gt.sample_factor_classes, represent, num_factors=gt.num_factors,
                                           rng=rng, num_train=train, num_eval=test)
        else:  # dci, sap: independent train and test sets of (code, factor) pairs
            classes_train = gt.sample_factor_classes(rng, train)
            codes_train = represent(classes_train, rng)
            classes_test = gt.sample_factor_classes(rng, test)
            codes_test = represent(classes_test, rng)
            if metric == "dci":
                result = dci.dci(codes_train, classes_train, codes_test, classes_test, seed=seed)
            else:
                result = sap.sap(codes_train, classes_train, codes_test, classes_test, continuous=sap_continuous)
        name = protocol_name(metric, gt.name, train, test)
        if metric == "sap" and sap_continuous:
            name = name.replace("sap_", "sapc_", 1)
        results[name] = {**result, "protocol": name, "num_train": train, "num_test": test}
    return results
