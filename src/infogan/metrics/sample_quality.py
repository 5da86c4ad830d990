"""Sample-quality statistics over feature tensors: FID, KID, precision/recall, and category purity.

Pure functions: they take precomputed features (N, F) (or labels) and return numbers, so the features of
the real images are computed once and shared. FID and KID are torchmetrics' implementations
(:class:`~torchmetrics.image.fid.FrechetInceptionDistance`, :class:`~torchmetrics.image.kid.KernelInceptionDistance`)
fed through a pass-through "feature network", so the tensors given are the features. Precision/recall
(Kynkaanniemi et al., 2019) has no library implementation and is written here.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import nn

from infogan.errors import ConfigError


class PassThrough(nn.Module):
    """The identity, posing as a torchmetrics feature extractor of ``num_features`` features."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


def _check(real: torch.Tensor, fake: torch.Tensor, least: int = 2) -> None:
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ConfigError(f"feature sets must be (N, F) and (M, F) tensors, got {tuple(real.shape)} and "
                          f"{tuple(fake.shape)}")
    if min(len(real), len(fake)) < least:
        raise ConfigError(f"feature sets need at least {least} rows each, got {len(real)} and {len(fake)}")


def frechet_distance(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (FID when the features are Inception's).

    Computed by torchmetrics' ``FrechetInceptionDistance`` (sums, covariances and the matrix square root in
    float64) on the features as given.

    Args:
        real: (N, F) features of the reference images.
        fake: (M, F) features of the images measured.
    Returns:
        ||mu_r - mu_f||^2 + Tr(S_r + S_f - 2 (S_r S_f)^(1/2)), >= 0 up to rounding.
    """
    from torchmetrics.image.fid import FrechetInceptionDistance

    _check(real, fake)
    metric = FrechetInceptionDistance(feature=PassThrough(real.shape[1]))
    if metric.real_features_sum.shape != (real.shape[1],):  # a torchmetrics that ignores num_features
        raise ConfigError("FID on precomputed features needs torchmetrics >= 1.4 (a feature module with a "
                          "num_features attribute): pip install -U torchmetrics")
    metric.update(real.detach().cpu().double(), real=True)
    metric.update(fake.detach().cpu().double(), real=False)
    return float(metric.compute())


def kernel_distance(real: torch.Tensor, fake: torch.Tensor, *, subsets: int = 100, subset_size: int = 1000,
                    seed: int = 0) -> dict:
    """Kernel Inception Distance: the unbiased squared MMD with the cubic polynomial kernel, over subsets.

    Computed by torchmetrics' ``KernelInceptionDistance`` in float64. Its subsets are drawn with the global
    RNG; here that happens inside a fork seeded with ``seed``, so the result is reproducible and the caller's
    RNG state is untouched.

    Args:
        real: (N, F) reference features.
        fake: (M, F) measured features.
        subsets: number of random subsets.
        subset_size: rows per subset; shrunk to min(N, M) when a set is smaller (reported back).
        seed: seed of the subset draws.
    Returns:
        ``{"kid": mean over subsets, "kid_std": their standard deviation, "subsets", "subset_size"}``.
    """
    from torchmetrics.image.kid import KernelInceptionDistance

    _check(real, fake)
    size = min(subset_size, len(real), len(fake))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        metric = KernelInceptionDistance(feature=PassThrough(real.shape[1]), subsets=subsets, subset_size=size)
    metric.update(real.detach().cpu().double(), real=True)
    metric.update(fake.detach().cpu().double(), real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return {"kid": float(mean), "kid_std": float(std), "subsets": subsets, "subset_size": size}


def knn_radii(features: torch.Tensor, k: int = 3, *, chunk: int = 1000) -> torch.Tensor:
    """Distance from each row to its k-th nearest neighbour among the other rows.

    Args:
        features: (N, F), N > k.
        k: which neighbour (the row itself, at distance 0, is not counted).
        chunk: rows per block of the (chunk, N) distance matrix.
    Returns:
        (N,) radii.
    """
    if len(features) <= k:
        raise ConfigError(f"k-NN radii with k={k} need more than {k} rows, got {len(features)}")
    out = []
    for block in features.split(chunk):
        d = torch.cdist(block, features)  # (chunk, N), the row itself at 0
        out.append(d.topk(k + 1, dim=1, largest=False).values[:, k])
    return torch.cat(out)


def _inside_any_ball(queries: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, chunk: int) -> torch.Tensor:
    """(Q,) bool: query i lies within radii[j] of some centre j."""
    hits = [(torch.cdist(block, centres) <= radii[None, :]).any(dim=1) for block in queries.split(chunk)]
    return torch.cat(hits)


def precision_recall(real: torch.Tensor, fake: torch.Tensor, *, k: int = 3, chunk: int = 1000) -> dict:
    """Improved precision and recall of Kynkaanniemi et al. (NeurIPS 2019).

    Each feature set is approximated by the union of balls around its points, each of radius the distance
    to the point's k-th nearest neighbour in its own set. Precision is the share of generated features inside
    the real manifold, recall the share of real features inside the generated one. No library offers this
    statistic; it is computed here by hand with chunked ``torch.cdist`` (float32 as given; float64 inputs give
    float64 distances) and ``topk``.

    Args:
        real: (N, F) reference features, N > k.
        fake: (M, F) generated features, M > k.
        k: neighbour defining the radii (3 in the paper).
        chunk: rows per block of the distance matrices (memory: chunk x max(N, M) distances).
    Returns:
        ``{"precision": float, "recall": float, "k": k}``.
    """
    _check(real, fake, least=k + 1)
    real, fake = real.detach().cpu(), fake.detach().cpu()
    real_radii = knn_radii(real, k, chunk=chunk)  # (N,)
    fake_radii = knn_radii(fake, k, chunk=chunk)  # (M,)
    precision = _inside_any_ball(fake, real, real_radii, chunk).float().mean()
    recall = _inside_any_ball(real, fake, fake_radii, chunk).float().mean()
    return {"precision": float(precision), "recall": float(recall), "k": k}


def category_purity(categories: torch.Tensor, predicted: torch.Tensor, *, num_categories: int | None = None,
                    num_classes: int = 10) -> dict:
    """How cleanly each category of a code maps to one class of an external classifier (on G's side).

    The generated-image protocol of Elastic-InfoGAN (Ojha et al., NeurIPS 2020): images are drawn for each
    category, a classifier names the digit of each, and the categories are scored by how pure they are.

    Args:
        categories: (N,) int, the category each image was generated with (0..K-1).
        predicted: (N,) int, the classifier's class for each image (0..num_classes-1).
        num_categories: K (default: max(categories) + 1).
        num_classes: classes of the classifier.
    Returns:
        ``purity`` (mean over categories of the majority share), ``nmi`` (normalised mutual information
        between category and predicted class, arithmetic normalisation), ``digits_covered`` (distinct
        majority classes), ``mean_entropy`` (mean over categories of the entropy of the predicted classes,
        nats; ln(num_classes) at most), and ``per_category``: one dict per category with ``majority``,
        ``purity``, ``entropy`` and ``count``.
    """
    from sklearn.metrics import normalized_mutual_info_score

    categories, predicted = categories.long().reshape(-1).cpu(), predicted.long().reshape(-1).cpu()
    if len(categories) != len(predicted) or len(categories) == 0:
        raise ConfigError(f"categories and predictions must be non-empty and of one length, got "
                          f"{len(categories)} and {len(predicted)}")
    k = num_categories or int(categories.max()) + 1
    if int(categories.min()) < 0 or int(categories.max()) >= k or int(predicted.min()) < 0 \
            or int(predicted.max()) >= num_classes:
        raise ConfigError(f"categories must be in 0..{k - 1} and predictions in 0..{num_classes - 1}")
    table = torch.bincount(categories * num_classes + predicted, minlength=k * num_classes)
    table = table.reshape(k, num_classes).double()  # (K, classes) counts
    per_category, purities, entropies = [], [], []
    for c, row in enumerate(table):
        count = int(row.sum())
        if count == 0:
            continue
        p = row / count  # (classes,)
        entropy = float(-(p[p > 0] * p[p > 0].log()).sum())
        purity = float(p.max())
        per_category.append({"category": c, "majority": int(p.argmax()), "purity": purity, "entropy": entropy,
                             "count": count})
        purities.append(purity)
        entropies.append(entropy)
    nmi = float(normalized_mutual_info_score(categories.numpy(), predicted.numpy()))
    return {"purity": sum(purities) / len(purities), "nmi": nmi,
            "digits_covered": len({r["majority"] for r in per_category}),
            "mean_entropy": sum(entropies) / len(entropies), "max_entropy": math.log(num_classes),
            "per_category": per_category}
