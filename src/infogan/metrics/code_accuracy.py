"""Driver: the first categorical code of a trained model as a classifier of a labelled test split.

Protocol ``code_acc_<dataset>_test``: argmax Q(c1|x) over the whole test split (BN in eval mode),
categories matched one-to-one to classes (Hungarian), plus NMI, ARI and code usage.
"""

from __future__ import annotations

import numpy as np

from infogan.errors import ConfigError
from infogan.inference.generate import encode
from infogan.metrics.clustering import clustering_scores


def code_accuracy(model, data, *, code: int | None = None) -> dict:
    """Score categorical code ``code`` (default: the first) against ``data.labels``.

    Args:
        model: an InfoGAN.
        data: an ImageData with labels (e.g. the MNIST test split).
    Returns:
        A result dict: accuracy, nmi, ari, usage_entropy, mapping, confusion, num_images, code.
    """
    spec = model.spec
    cats = spec.categorical_indices
    if not cats:
        raise ConfigError("this model has no categorical code: code accuracy does not apply")
    if data.labels is None:
        raise ConfigError(f"dataset {data.name!r} has no labels: code accuracy needs a labelled split")
    index = cats[0] if code is None else code
    if index not in cats:
        raise ConfigError(f"code c{index + 1} is not categorical; categorical codes: {[f'c{i + 1}' for i in cats]}")
    post = encode(model, data.images)
    probs = post["probs"][cats.index(index)]  # (N, K)
    pred = probs.argmax(dim=1).numpy()
    labels = data.labels.numpy()
    out = clustering_scores(pred, labels, num_categories=spec.codes[index].k,
                            num_classes=int(np.max(labels)) + 1)
    out.update({"num_images": int(len(labels)), "code": f"c{index + 1}"})
    return out
