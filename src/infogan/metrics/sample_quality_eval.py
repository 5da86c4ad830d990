"""Drivers: what G draws, measured in a feature space (protocols ``fid_mnistnet_10k``, ``kid_mnistnet_10k``,
``prd_mnistnet_10k``, ``purity_mnistnet_1kx10`` and their variants).

FID, KID and precision/recall compare ``num_samples`` images drawn from the prior (seed fixed) with the test
split (up to 10,000 images). Each result carries its real-vs-real floor: the same statistic between
``num_samples`` images of the training split (a fixed-seed subset) and the same test split, i.e. what a
generator that draws real digits would get with this many samples. Features are those of the shipped
digit network (``mnistnet``) for MNIST, those of the dSprites shape classifier (``dspritesnet``) for dSprites
(reference and floor sets drawn disjointly from its one split), and Inception-v3's for every other dataset or
on request (``features="inception"``). The fake test dataset counts as MNIST-shaped digits here (tests only).

Protocol names state the features and the sample count: ``fid_mnistnet_10k`` at 10,000 samples,
``fid_mnistnet_n2000`` at 2,000, ``fid_inception_fashion-mnist_10k`` on another dataset; KID adds
``_subset<size>`` when its subsets are shrunk below 1,000 to fit a small set. Generated features are
computed once per model state and shared by fid/kid/prd in one process.
"""

from __future__ import annotations

import functools
import weakref

import torch

from infogan.errors import ConfigError
from infogan.inference.generate import generate
from infogan.latent.syntax import format_latent
from infogan.metrics.sample_quality import (
    category_purity,
    frechet_distance,
    kernel_distance,
    precision_recall,
)

DIGIT_DATASETS = ("mnist", "fake")  # where the digit network applies (fake: MNIST-shaped test data)
SHAPE_DATASETS = ("dsprites",)  # where the shape classifier's features apply
MAX_REAL = 10_000
KID_SUBSET = 1000
FLOOR_SEED = 0  # seed of the training-split subset of the floor
_generated_cache: dict = {}  # the last generated feature set: {"key": ..., "model": weakref, "features": ...}


def feature_kind(dataset: str, features: str | None = None) -> str:
    """The feature space for ``dataset``: "mnistnet" for MNIST (and fake), "dspritesnet" (the shape
    classifier's) for dSprites, else "inception"."""
    base = dataset.split(":")[0]
    kind = features or ("mnistnet" if base in DIGIT_DATASETS else "dspritesnet" if base in SHAPE_DATASETS
                        else "inception")
    if kind not in ("mnistnet", "dspritesnet", "inception"):
        raise ConfigError(f"unknown features {kind!r}; choose 'mnistnet' (MNIST), 'dspritesnet' (dSprites) or "
                          "'inception'")
    if kind == "mnistnet" and base not in DIGIT_DATASETS:
        raise ConfigError(f"the digit feature network measures MNIST only, not {dataset!r}; use "
                          "features='inception'")
    if kind == "dspritesnet" and base not in SHAPE_DATASETS:
        raise ConfigError(f"the shape classifier's features measure dSprites only, not {dataset!r}")
    return kind


def count_name(n: int) -> str:
    """10000 -> "10k", other counts -> "n<count>"."""
    return "10k" if n == 10_000 else f"n{n}"


def protocol_name(metric: str, dataset: str, kind: str, num_samples: int, *, subset_size: int | None = None) -> str:
    """E.g. ``fid_mnistnet_10k``, ``kid_mnistnet_n200_subset200``, ``prd_inception_svhn_10k``."""
    base = dataset.split(":")[0]
    name = f"{metric}_{kind}" + ("" if base == "mnist" else f"_{base}") + f"_{count_name(num_samples)}"
    if subset_size is not None and subset_size != KID_SUBSET:
        name += f"_subset{subset_size}"
    return name


@functools.lru_cache(maxsize=4)
def _extractor(kind: str, inception_weights: str | None):
    if kind == "mnistnet":
        from infogan.metrics.feature_nets import load_feature_net

        return load_feature_net("mnist")
    if kind == "dspritesnet":
        from infogan.metrics.shape_net import load_shape_net

        return load_shape_net()
    from infogan.metrics.inception import load_inception

    return load_inception(inception_weights)


def _embed(kind: str, inception_weights: str | None, images: torch.Tensor) -> torch.Tensor:
    net = _extractor(kind, inception_weights)
    return net.embed(images, batch_size=50 if kind == "inception" else 1000)


@functools.lru_cache(maxsize=8)
def real_features(dataset: str, data_dir, kind: str, inception_weights: str | None, split: str,
                  num: int | None = None) -> torch.Tensor:
    """Features of the test split (its first 10,000 images), or of ``num`` training images (fixed seed).

    A dataset with a training split only (dSprites) takes both sets from it, disjoint: the first 10,000 of a
    fixed-seed permutation are the reference ("test"), the next ``num`` the floor's real sample ("train").
    Cached per process: the reference set is embedded once however many metrics and models are measured.
    """
    from infogan.data import NATIVE_SHAPES, load_dataset

    shape = NATIVE_SHAPES.get(dataset, (1, 28, 28))
    one_split = dataset in SHAPE_DATASETS
    data = load_dataset(dataset, split="train" if one_split else split, data_dir=data_dir, image_size=shape[1],
                        channels=shape[0])
    images = data.images
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(FLOOR_SEED))
    if one_split:
        images = images[order[:MAX_REAL]] if split == "test" else images[order[MAX_REAL:MAX_REAL + num]]
    elif split == "test":
        images = images[:MAX_REAL]
    else:
        images = images[order[:num]]
    return _embed(kind, inception_weights, images)


def _to_unit(model, images: torch.Tensor) -> torch.Tensor:
    """G's output range -> [0, 1]."""
    return ((images + 1) / 2 if model.config.output == "tanh" else images).clamp(0, 1)


def _state_key(model) -> tuple:
    """Changes whenever G's parameters or buffers are modified in place (an optimiser step, a load)."""
    return tuple(t._version for t in (*model.G.parameters(), *model.G.buffers()))


def generated_features(model, kind: str, num_samples: int, *, seed: int = 0, inception_weights: str | None = None,
                       batch_size: int = 1000) -> torch.Tensor:
    """Features (num_samples, F) of images drawn from the prior with ``seed``; the last set is kept.

    Args:
        model: the InfoGAN (eval mode is set by :func:`infogan.inference.generate.generate`).
        kind: "mnistnet", "dspritesnet" or "inception".
        num_samples: images to draw.
        seed: seed of the draws.
        inception_weights: see :func:`infogan.metrics.inception.load_inception`.
        batch_size: images per generator call.
    Returns:
        (num_samples, F) float32 features on the CPU.
    """
    key = (id(model), _state_key(model), kind, num_samples, seed, inception_weights)
    cached = _generated_cache
    if cached.get("key") == key and cached["model"]() is model:
        return cached["features"]
    gen = torch.Generator().manual_seed(seed)
    chunks, done = [], 0
    while done < num_samples:
        n = min(batch_size, num_samples - done)
        images = _to_unit(model, generate(model, n=n, generator=gen)).cpu()  # (n, C, H, W) in [0, 1]
        chunks.append(_embed(kind, inception_weights, images))
        done += n
    features = torch.cat(chunks)
    _generated_cache.clear()
    _generated_cache.update(key=key, model=weakref.ref(model), features=features)
    return features


def _setup(model, dataset: str, data_dir, num_samples: int, features: str | None, inception_weights):
    if num_samples < 2 * 4:
        raise ConfigError(f"sample-quality metrics need at least 8 samples, got num_samples={num_samples}")
    kind = feature_kind(dataset, features)
    weights = None if inception_weights is None else str(inception_weights)
    _extractor(kind, weights)  # a missing network or package fails here, before any data is loaded
    base = dataset.split(":")[0]
    real = real_features(base, data_dir, kind, weights, "test")
    return kind, weights, base, real


@functools.lru_cache(maxsize=16)
def _floor(metric: str, dataset: str, data_dir, kind: str, weights: str | None, num_samples: int) -> dict:
    """The statistic between ``num_samples`` training images and the test split (cached per process)."""
    real = real_features(dataset, data_dir, kind, weights, "test")
    train = real_features(dataset, data_dir, kind, weights, "train", num_samples)
    if metric == "fid":
        return {"floor": frechet_distance(real, train)}
    if metric == "kid":
        r = kernel_distance(real, train, subset_size=min(KID_SUBSET, num_samples))
        return {"floor": r["kid"], "floor_std": r["kid_std"]}
    r = precision_recall(real, train)
    return {"floor_precision": r["precision"], "floor_recall": r["recall"]}


def _common(kind: str, real: torch.Tensor, fake: torch.Tensor) -> dict:
    return {"features": kind, "num_samples": len(fake), "num_real": len(real)}


def fid_driver(model, dataset: str, data_dir, num_samples: int = 10_000, features: str | None = None,
               inception_weights=None, **_) -> dict:
    """FID of ``num_samples`` generated images against the test split, with its real-vs-real floor."""
    kind, weights, base, real = _setup(model, dataset, data_dir, num_samples, features, inception_weights)
    fake = generated_features(model, kind, num_samples, inception_weights=weights)
    return {"fid": frechet_distance(real, fake), **_floor("fid", base, data_dir, kind, weights, len(fake)),
            **_common(kind, real, fake), "protocol": protocol_name("fid", base, kind, num_samples)}


def kid_driver(model, dataset: str, data_dir, num_samples: int = 10_000, features: str | None = None,
               inception_weights=None, **_) -> dict:
    """KID (mean and std over 100 subsets of up to 1,000) against the test split, with its floor."""
    kind, weights, base, real = _setup(model, dataset, data_dir, num_samples, features, inception_weights)
    fake = generated_features(model, kind, num_samples, inception_weights=weights)
    result = kernel_distance(real, fake, subset_size=KID_SUBSET)
    protocol = protocol_name("kid", base, kind, num_samples, subset_size=result["subset_size"])
    return {**result, **_floor("kid", base, data_dir, kind, weights, len(fake)), **_common(kind, real, fake),
            "protocol": protocol}


def prd_driver(model, dataset: str, data_dir, num_samples: int = 10_000, features: str | None = None,
               inception_weights=None, **_) -> dict:
    """Improved precision and recall (k = 3) against the test split, with the real-vs-real floor."""
    kind, weights, base, real = _setup(model, dataset, data_dir, num_samples, features, inception_weights)
    fake = generated_features(model, kind, num_samples, inception_weights=weights)
    return {**precision_recall(real, fake), **_floor("prd", base, data_dir, kind, weights, len(fake)),
            **_common(kind, real, fake), "protocol": protocol_name("prd", base, kind, num_samples)}


@functools.lru_cache(maxsize=4)
def _real_purity(dataset: str, data_dir) -> dict:
    """Purity and NMI of the test split grouped by its true labels: what a perfect code would get."""
    from infogan.data import load_dataset

    data = load_dataset(dataset, split="test", data_dir=data_dir)
    r = category_purity(data.labels, _extractor("mnistnet", None).classify(data.images), num_categories=10)
    return {"real_purity": r["purity"], "real_nmi": r["nmi"]}


def purity_driver(model, dataset: str, data_dir, num_samples: int = 10_000, seed: int = 0, **_) -> dict:
    """Category purity on G's side: ``num_samples // K`` images per category of the first categorical code.

    Each image keeps its category; the other codes and z come from the prior (``seed``); the digit network
    names the digit of each image.
    """
    feature_kind(dataset, "mnistnet")  # the digit network: MNIST only
    spec = model.spec
    if not spec.categorical_indices:
        raise ConfigError(f"purity needs a categorical code; this model has {format_latent(spec)}")
    index = spec.categorical_indices[0]
    k = spec.codes[index].k
    per = num_samples // k
    if per < 1:
        raise ConfigError(f"purity needs at least one sample per category: num_samples >= {k}")
    net = _extractor("mnistnet", None)
    gen = torch.Generator().manual_seed(seed)
    categories, predicted = [], []
    for c in range(k):
        codes = [None] * len(spec.codes)
        for start in range(0, per, 1000):
            n = min(1000, per - start)
            codes[index] = torch.full((n,), c, dtype=torch.long)
            images = _to_unit(model, generate(model, codes, n=n, generator=gen)).cpu()  # (n, 1, 28, 28)
            predicted.append(net.classify(images))
            categories.append(codes[index])
    result = category_purity(torch.cat(categories), torch.cat(predicted), num_categories=k)
    base = dataset.split(":")[0]
    return {**result, **_real_purity(base, data_dir), "code": spec.code_names()[index],
            "per_category_samples": per, "features": "mnistnet", "protocol": purity_protocol(base, num_samples, k)}


def purity_protocol(dataset: str, num_samples: int, k: int) -> str:
    """E.g. ``purity_mnistnet_1kx10``: ``num_samples // k`` images per category of a Cat(k) code."""
    per = num_samples // k
    base = dataset.split(":")[0]
    return "purity_mnistnet" + ("" if base == "mnist" else f"_{base}") + \
        f"_{f'{per // 1000}k' if per % 1000 == 0 else str(per)}x{k}"
