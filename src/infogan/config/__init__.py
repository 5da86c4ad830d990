"""Configuration: frozen, validated dataclasses (:mod:`~infogan.config.schema`), configs as files and the one
rule comparing two of them (:mod:`~infogan.config.files`), and the presets, one per paper experiment, in one
registry (:mod:`~infogan.config.presets`)."""

from infogan.config.files import (
           EXECUTION_FIELDS,
           RESUME_FIELDS,
           config_differences,
           read_config,
)
from infogan.config.schema import (
           DataConfig,
           ModelConfig,
           OptimConfig,
           RunConfig,
           TrainConfig,
)

__all__ = ["DataConfig", "EXECUTION_FIELDS", "ModelConfig", "OptimConfig", "RESUME_FIELDS", "RunConfig", "TrainConfig",
           "config_differences", "read_config"]
