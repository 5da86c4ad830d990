"""Metric registry. Each metric has a protocol name (so numbers are never compared across protocols), the
datasets it applies to, and a driver; results are appended to ``metric-<protocol>.jsonl`` in the run folder.

    from infogan.metrics import evaluate
    results = evaluate(model, ["code_acc", "info"], run_dir="runs/00000-mnist-seed0")
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from infogan.errors import ConfigError
from infogan.storage import append_jsonl

LABELLED = ("mnist", "fashion-mnist", "svhn", "fake")


@dataclass(frozen=True)
class Metric:
    """A registered metric.

    Attributes:
        name: short name used on the command line.
        protocol: ``fn(dataset) -> protocol name`` written in the results.
        applies_to: dataset names it makes sense for (``"*"`` = any).
        compute: ``fn(model, dataset, data_dir, **options) -> dict``.
        description: one line for ``infogan eval --list``.
    """

    name: str
    protocol: Callable[[str], str]
    applies_to: tuple[str, ...]
    compute: Callable[..., dict]
    description: str

    def applies(self, dataset: str) -> bool:
        return "*" in self.applies_to or dataset.split(":")[0] in self.applies_to


def _code_acc(model, dataset: str, data_dir, **_):
    from infogan.data import load_dataset
    from infogan.metrics.code_accuracy import code_accuracy

    shape = model.config.image_shape
    data = load_dataset(dataset, split="test", data_dir=data_dir, image_size=shape[1], channels=shape[0])
    return code_accuracy(model, data)


def _info(model, dataset: str, data_dir, num_samples: int = 10_000, **_):
    from infogan.metrics.information import info_bound

    return info_bound(model, num_samples=num_samples)


def _attributes(model, dataset: str, data_dir, num_samples: int = 200, **_):
    from infogan.metrics.attributes import code_attribute_correlation, protocol_name

    result = code_attribute_correlation(model, draws=num_samples)
    return {**result, "protocol": protocol_name(result["draws"], result["steps"], result["span"])}


def _shape(model, dataset: str, data_dir, num_samples: int = 10_000, **_):
    from infogan.metrics.shape_score import shape_score_for_model

    return shape_score_for_model(model, num_samples=num_samples)


def _disentanglement(name: str):
    def run(model, dataset: str, data_dir, num_samples: int | None = None, **_):
        from infogan.metrics.dsprites_eval import disentanglement_for_model

        return disentanglement_for_model(model, name, num_train=num_samples)
    return run


METRICS: dict[str, Metric] = {
    "code_acc": Metric("code_acc", lambda d: f"code_acc_{d.split(':')[0]}_test", LABELLED, _code_acc,
                       "first categorical code as a classifier: Hungarian accuracy, NMI, ARI (test split)"),
    "info": Metric("info", lambda d: "info_bound_10k", ("*",), _info,
                   "lower bound L_I per code on 10,000 fresh samples (nats)"),
}
METRICS["attributes"] = Metric(
    "attributes", lambda d: "code_attributes_200x9", ("mnist", "fashion-mnist", "fake"), _attributes,
    "Spearman rho between each continuous code and slant/width/thickness/ink over 200 sweeps of [-2, 2]")


def _quality(name: str):
    def run(model, dataset: str, data_dir, **options):
        from infogan.metrics import sample_quality_eval

        return getattr(sample_quality_eval, f"{name}_driver")(model, dataset, data_dir, **options)
    return run


def _quality_protocol(name: str) -> Callable[[str], str]:
    def protocol(dataset: str) -> str:
        from infogan.metrics.sample_quality_eval import feature_kind, protocol_name

        return protocol_name(name, dataset, feature_kind(dataset), 10_000)
    return protocol


def _purity_protocol(dataset: str) -> str:
    from infogan.metrics.sample_quality_eval import purity_protocol

    return purity_protocol(dataset, 10_000, 10)


_QUALITY = ("mnist", "fashion-mnist", "svhn", "fake", "dsprites")  # datasets with real images to compare with
METRICS["fid"] = Metric("fid", _quality_protocol("fid"), _QUALITY, _quality("fid"),
                        "FID of 10,000 samples vs the test split, with its real-vs-real floor (digit-net features "
                        "on MNIST, the shape classifier's on dSprites, Inception elsewhere)")
METRICS["kid"] = Metric("kid", _quality_protocol("kid"), _QUALITY, _quality("kid"),
                        "KID (mean, std over 100 subsets of 1,000) of 10,000 samples vs the test split, with floor")
METRICS["prd"] = Metric("prd", _quality_protocol("prd"), _QUALITY, _quality("prd"),
                        "improved precision/recall (k=3) of 10,000 samples vs the test split, with floor")
METRICS["purity"] = Metric(
    "purity", lambda d: _purity_protocol(d),
    ("mnist", "fake"), _quality("purity"),
    "per-category purity, NMI and digits covered of G's images (1,000 per category), digit-net classifier")
METRICS["shape"] = Metric(
    "shape", lambda d: "shape_dspritesnet_10k", ("dsprites",), _shape,
    "dSprites shape score on 10,000 samples: share classified confidently as one shape x balance of the shapes, "
    "with the score of real renders")
for _name in ("mig", "factorvae", "dci", "sap", "betavae"):
    METRICS[_name] = Metric(_name, lambda d, n=_name: f"{n}_dsprites_10k", ("dsprites",), _disentanglement(_name),
                            f"{_name} disentanglement score against dSprites ground-truth factors")


def default_metrics(dataset: str) -> list[str]:
    """Metrics that apply to a dataset."""
    return [name for name, m in METRICS.items() if m.applies(dataset)]


CURVE_METRICS = ("fid", "code_acc", "shape")  # cheap enough to follow during training (TrainConfig.eval_every)


def curve_metrics(dataset: str) -> list[str]:
    """The metrics followed during training by default: sample quality (and code accuracy where labelled)."""
    return [name for name in CURVE_METRICS if METRICS[name].applies(dataset)]


def evaluate(model, names: list[str], *, dataset: str | None = None, data_dir=None,
             run_dir: str | Path | None = None, step: int | None = None, **options) -> dict[str, dict]:
    """Compute metrics and append each result to ``run_dir/metric-<protocol>.jsonl``.

    Args:
        model: a loaded InfoGAN (``model.run_config`` gives the training dataset when ``dataset`` is None).
        names: metric names (see :data:`METRICS`).
        dataset: evaluation dataset (default: the run's dataset).
        run_dir: where to append results (None: not written).
        step: the training step the weights belong to (default: ``model.step``, set by ``infogan.load``).
    Returns:
        {protocol: result dict}.
    """
    config = getattr(model, "run_config", None)
    dataset = dataset or (config.data.dataset if config else "mnist")
    data_dir = data_dir if data_dir is not None else (config.data.data_dir if config else None)
    results = {}
    for name in names:
        if name not in METRICS:
            raise ConfigError(f"unknown metric {name!r}; known: {', '.join(METRICS)}")
        metric = METRICS[name]
        if not metric.applies(dataset):
            raise ConfigError(f"metric {name!r} does not apply to dataset {dataset!r} (it needs "
                              f"{', '.join(metric.applies_to)}); metrics for {dataset!r}: "
                              f"{', '.join(default_metrics(dataset)) or 'none'}")
        t0 = time.perf_counter()
        result = metric.compute(model, dataset, data_dir, **options)
        protocol = result.pop("protocol", None) or metric.protocol(dataset)
        record = {"metric": name, "protocol": protocol, "step": step if step is not None else getattr(model, "step", None),
                  "seconds": round(time.perf_counter() - t0, 3), "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                  **result}
        if run_dir is not None:
            append_jsonl(Path(run_dir) / f"metric-{protocol}.jsonl", record)
        results[protocol] = record
    return results
