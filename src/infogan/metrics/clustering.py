"""The categorical code as an unsupervised classifier: Hungarian-matched accuracy, NMI and ARI.

The paper (Sec. 5.1) reports "5% error" of c1 on MNIST without naming the matching rule; we match
categories to classes one-to-one with the Hungarian algorithm (scipy's ``linear_sum_assignment``), and
use scikit-learn's NMI and ARI.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score


def confusion(pred: np.ndarray, labels: np.ndarray, *, num_categories: int, num_classes: int) -> np.ndarray:
    """Counts (num_categories, num_classes): rows are predicted categories, columns true classes."""
    pred, labels = np.asarray(pred, dtype=np.int64), np.asarray(labels, dtype=np.int64)
    if pred.shape != labels.shape:
        raise ValueError(f"pred {pred.shape} and labels {labels.shape} differ in shape")
    out = np.zeros((num_categories, num_classes), dtype=np.int64)
    np.add.at(out, (pred, labels), 1)
    return out


def hungarian_accuracy(pred: np.ndarray, labels: np.ndarray, *, num_categories: int | None = None,
                       num_classes: int | None = None) -> dict:
    """Accuracy under the best one-to-one matching of categories to classes.

    Args:
        pred: (N,) predicted category per sample.
        labels: (N,) true class per sample.
    Returns:
        ``accuracy`` in [0, 1]; ``mapping`` {category: class} (unmatched categories map to -1);
        ``confusion`` (K, C) counts as nested lists.
    """
    pred, labels = np.asarray(pred, dtype=np.int64), np.asarray(labels, dtype=np.int64)
    k = num_categories or int(pred.max(initial=0)) + 1
    c = num_classes or int(labels.max(initial=0)) + 1
    counts = confusion(pred, labels, num_categories=k, num_classes=c)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    mapping = {int(r): -1 for r in range(k)}
    mapping.update({int(r): int(col) for r, col in zip(rows, cols)})
    correct = counts[rows, cols].sum()
    return {"accuracy": float(correct / max(len(labels), 1)), "mapping": mapping,
            "confusion": counts.tolist()}


def clustering_scores(pred: np.ndarray, labels: np.ndarray, *, num_categories: int | None = None,
                      num_classes: int | None = None) -> dict:
    """Hungarian accuracy, NMI (arithmetic normalisation, sklearn default) and ARI, plus code usage.

    ``usage_entropy`` is the entropy (nats) of the predicted-category histogram: ln K when every category
    is used equally, lower when categories collapse.
    """
    out = hungarian_accuracy(pred, labels, num_categories=num_categories, num_classes=num_classes)
    out["nmi"] = float(normalized_mutual_info_score(labels, pred))
    out["ari"] = float(adjusted_rand_score(labels, pred))
    hist = np.bincount(np.asarray(pred, dtype=np.int64), minlength=len(out["mapping"])) / max(len(pred), 1)
    nz = hist[hist > 0]
    out["usage_entropy"] = float(-(nz * np.log(nz)).sum()) + 0.0  # + 0.0 turns -0.0 into 0.0
    return out
