"""Configuration: frozen, validated dataclasses (:mod:`~infogan.config.schema`) and the presets, one per
paper experiment, in one registry (:mod:`~infogan.config.presets`)."""

from infogan.config.schema import DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig

__all__ = ["DataConfig", "ModelConfig", "OptimConfig", "RunConfig", "TrainConfig"]
