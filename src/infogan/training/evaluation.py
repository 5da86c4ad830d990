"""Evaluation during training (``TrainConfig.eval_every``): a metric curve over the run, in its metric files.

Each evaluation uses its own fixed-seed draws and eval-mode networks, so it changes nothing of the training
(the same run with and without evaluations trains to the same weights); the loop excludes its time from the
training time and throughput.
"""

from __future__ import annotations

from pathlib import Path

from infogan.config import RunConfig
from infogan.errors import ConfigError
from infogan.metrics import METRICS, curve_metrics, evaluate
from infogan.models import InfoGAN


def metric_names(config: RunConfig) -> list[str]:
    """The metrics followed during training: ``eval_metrics`` if given, else the dataset's curve metrics.

    Raises:
        ConfigError: an unknown metric, or one that does not apply to the run's dataset.
    """
    dataset = config.data.dataset
    names = [n for n in config.train.eval_metrics.split(",") if n] or curve_metrics(dataset)
    for name in names:
        if name not in METRICS:
            raise ConfigError(f"unknown metric {name!r} in eval_metrics; known: {', '.join(METRICS)}")
        if not METRICS[name].applies(dataset):
            raise ConfigError(f"metric {name!r} in eval_metrics does not apply to dataset {dataset!r}")
    return names


def during_training(model: InfoGAN, config: RunConfig, run_dir: Path, step: int) -> dict[str, dict]:
    """Evaluate the live networks at ``step`` and append the results to the run's metric files.

    Returns:
        {protocol: result}, as :func:`infogan.metrics.evaluate`.
    """
    was_training = model.training
    try:
        return evaluate(model, metric_names(config), dataset=config.data.dataset, data_dir=config.data.data_dir,
                        run_dir=run_dir, step=step, num_samples=config.train.eval_samples)
    finally:
        model.train(was_training)
