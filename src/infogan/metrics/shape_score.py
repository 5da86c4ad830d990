"""The dSprites shape score: does G draw dSprites' three shapes, recognisably and in equal shares?

Metric ``shape``, protocol ``shape_dspritesnet_10k`` (``shape_dspritesnet_n{N}`` for N samples other than 10,000).
The classifier is :mod:`infogan.metrics.shape_net`. For N images with softmax outputs p (N, 3):

    confident share  s = fraction of images with max_k p_k >= CONFIDENCE_THRESHOLD
    histogram        h = the shapes (argmax) of the confident images, normalised to sum 1
    TV               = 1/2 sum_k |h_k - 1/3|                 (0: uniform; at most 2/3: a single shape)
    KL               = sum_k h_k log(3 h_k)                  (nats; 0: uniform; at most log 3)
    balance          b = 1 - TV / (2/3)                      (1: uniform; 0: a single shape)
    shape score      = s * b                                 (in [0, 1])

With no confident image the histogram is empty: TV and KL take their maxima, balance and score are 0. The
result also carries InfoGAN-CR's two sample-quality numbers (``DSpritesInceptionScore._evaluate`` of
``FactorVAE_dSprites/gan/metric.py``, github.com/fjxmlzn/InfoGAN-CR): the mean max-softmax (``mean_confidence``)
and the KL of the argmax histogram of all images to uniform (``mode_kl``); and the same score for real renders of
random factor combinations (``real``), so that ``relative_to_real`` reads as "G reaches x of what real images get".
"""

from __future__ import annotations

import copy
import math
from functools import lru_cache

import numpy as np
import torch

from infogan.data.dsprites import SHAPE_NAMES, render_dsprites, sample_factor_classes
from infogan.errors import ConfigError

# With three classes a max-softmax of 0.9 leaves at most 0.1 for the other two shapes together: the classifier
# names one shape and all but rules out the others. Held-out renders pass it (docs/metrics.md gives the share),
# so a G that draws dSprites' shapes can too; round blobs, discs and blurred sprites fall far below it.
CONFIDENCE_THRESHOLD = 0.9
PROTOCOL_SAMPLES = 10_000


def protocol_name(num_samples: int) -> str:
    """``shape_dspritesnet_10k`` for the protocol's 10,000 samples, else ``shape_dspritesnet_n{N}``."""
    return "shape_dspritesnet_10k" if num_samples == PROTOCOL_SAMPLES else f"shape_dspritesnet_n{num_samples}"


def confident(probs: np.ndarray, threshold: float = CONFIDENCE_THRESHOLD) -> np.ndarray:
    """Which images the classifier assigns to one shape with max softmax >= ``threshold``: bool (N,)."""
    return _check(probs).max(axis=1) >= threshold


def shape_histogram(probs: np.ndarray, threshold: float = CONFIDENCE_THRESHOLD) -> np.ndarray:
    """Counts of each shape (argmax) among the confident images: int64 (K,)."""
    probs = _check(probs)
    keep = confident(probs, threshold)
    return np.bincount(probs[keep].argmax(axis=1), minlength=probs.shape[1]).astype(np.int64)


def tv_to_uniform(hist: np.ndarray) -> float:
    """Total-variation distance of a histogram (counts or shares, K bins) to the uniform one; 1 - 1/K if empty."""
    hist = np.asarray(hist, dtype=np.float64)
    k = hist.shape[0]
    if hist.sum() <= 0:
        return 1.0 - 1.0 / k
    p = hist / hist.sum()
    return float(0.5 * np.abs(p - 1.0 / k).sum())


def kl_to_uniform(hist: np.ndarray) -> float:
    """KL(h || uniform) in nats, with 0 log 0 = 0; log K if empty."""
    hist = np.asarray(hist, dtype=np.float64)
    k = hist.shape[0]
    if hist.sum() <= 0:
        return math.log(k)
    p = hist / hist.sum()
    nz = p > 0
    return float((p[nz] * np.log(p[nz] * k)).sum())


def balance(hist: np.ndarray) -> float:
    """1 - TV / (1 - 1/K): 1 for equal shares, 0 for a single shape (and for an empty histogram)."""
    k = np.asarray(hist).shape[0]
    if np.asarray(hist).sum() <= 0:
        return 0.0
    return round(1.0 - tv_to_uniform(hist) / (1.0 - 1.0 / k), 12)  # 12 digits: exactly 0 for a single shape


def score_probabilities(probs: np.ndarray, threshold: float = CONFIDENCE_THRESHOLD) -> dict:
    """Every number of the score for softmax outputs (N, K).

    Args:
        probs: softmax outputs, rows summing to 1, columns in the order of :data:`SHAPE_NAMES`.
        threshold: the confidence threshold.
    Returns:
        ``score``, ``confident_share``, ``balance``, ``histogram`` (share of each shape among the confident
        images), ``counts``, ``tv_uniform``, ``kl_uniform``, ``mean_confidence`` and ``mode_kl`` (InfoGAN-CR's
        two numbers), ``num_images``.
    """
    probs = _check(probs)
    counts = shape_histogram(probs, threshold)
    share = float(confident(probs, threshold).mean())
    total = counts.sum()
    names = SHAPE_NAMES if probs.shape[1] == len(SHAPE_NAMES) else [str(i) for i in range(probs.shape[1])]
    all_counts = np.bincount(probs.argmax(axis=1), minlength=probs.shape[1])
    return {"score": share * balance(counts), "confident_share": share, "balance": balance(counts),
            "histogram": {n: (float(c / total) if total else 0.0) for n, c in zip(names, counts)},
            "counts": {n: int(c) for n, c in zip(names, counts)},
            "tv_uniform": tv_to_uniform(counts), "kl_uniform": kl_to_uniform(counts),
            "mean_confidence": float(probs.max(axis=1).mean()), "mode_kl": kl_to_uniform(all_counts),
            "num_images": int(probs.shape[0])}


def _check(probs: np.ndarray) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] == 0 or probs.shape[1] < 2:
        raise ConfigError(f"shape probabilities must be a non-empty (N, K) array with K >= 2, got {probs.shape}")
    return probs


# ----- drivers ---------------------------------------------------------------------------------------
def real_reference(num_samples: int = PROTOCOL_SAMPLES, *, seed: int = 0, net=None) -> dict:
    """The score of ``num_samples`` renders of uniformly drawn factor combinations (what real data gets)."""
    if net is not None:
        return _real(num_samples, seed, net)
    return copy.deepcopy(_real_cached(num_samples, seed))  # the shipped classifier: computed once per process


@lru_cache(maxsize=4)
def _real_cached(num_samples: int, seed: int) -> dict:
    from infogan.metrics.shape_net import load_shape_net

    return _real(num_samples, seed, load_shape_net())


def _real(num_samples: int, seed: int, net) -> dict:
    classes = sample_factor_classes(np.random.default_rng(seed), num_samples)
    images = torch.from_numpy(render_dsprites(classes)).unsqueeze(1).float()  # (N, 1, 64, 64) in {0, 1}
    probs = net.eval().probabilities(images).numpy()
    result = score_probabilities(probs)
    result["accuracy"] = float((probs.argmax(axis=1) == classes[:, 0]).mean())
    return result


@torch.no_grad()
def shape_score_for_model(model, *, num_samples: int = PROTOCOL_SAMPLES, seed: int = 0,
                          batch_size: int = 500, net=None) -> dict:
    """Generate ``num_samples`` images from ``model`` (fixed seed, in chunks) and score their shapes.

    Args:
        model: an InfoGAN of 64x64 greyscale images (the dsprites presets).
        num_samples: images to generate (the protocol: 10,000).
        seed: seed of the latent draws and of the real renders.
        batch_size: images per G call and per classifier call.
        net: a :class:`~infogan.metrics.shape_net.ShapeNet` (default: the shipped one).
    Returns:
        :func:`score_probabilities`'s numbers for G's samples, plus ``real`` (the same for renders),
        ``relative_to_real``, ``threshold``, ``num_samples`` and ``protocol``.
    """
    from infogan.inference.generate import generate
    from infogan.metrics.shape_net import load_shape_net

    if tuple(model.config.image_shape) != (1, 64, 64):
        raise ConfigError(f"the shape score needs a model of 64x64 greyscale images (a dsprites preset), got "
                          f"{model.config.image_shape}")
    if not isinstance(num_samples, int) or num_samples < 1:
        raise ConfigError(f"num_samples must be a positive integer, got {num_samples!r}")
    classifier = (net if net is not None else load_shape_net()).eval()
    gen = torch.Generator().manual_seed(seed)
    probs = []
    for start in range(0, num_samples, batch_size):
        x = generate(model, n=min(batch_size, num_samples - start), generator=gen).cpu()  # (B, 1, 64, 64)
        if model.config.output == "tanh":
            x = (x + 1.0) / 2.0
        probs.append(classifier.probabilities(x.clamp(0.0, 1.0)))
    result = score_probabilities(torch.cat(probs).numpy())
    real = real_reference(num_samples, seed=seed, net=net)
    return {**result, "real": real, "relative_to_real": result["score"] / real["score"] if real["score"] else None,
            "threshold": CONFIDENCE_THRESHOLD, "num_samples": num_samples, "protocol": protocol_name(num_samples)}
