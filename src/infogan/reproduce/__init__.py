"""Reproducing the paper's experiments over seeds: the plan (:mod:`~.plan`), running it (:mod:`~.run`,
with the process pool of :mod:`~.pool`), and the report (:mod:`~.report`)."""

from infogan.reproduce.plan import PlannedRun, config_differences, plan
from infogan.reproduce.run import reproduce, train_planned

__all__ = ["PlannedRun", "config_differences", "plan", "reproduce", "train_planned"]
