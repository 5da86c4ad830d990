"""The latent codes: one declarative spec (:mod:`~infogan.latent.spec`) and its string syntax
(:mod:`~infogan.latent.syntax`)."""

from infogan.latent.spec import (
           Categorical,
           Code,
           Continuous,
           Gaussian,
           Latent,
           LatentSpec,
           Noise,
           Uniform,
)
from infogan.latent.syntax import format_latent, parse_latent

__all__ = ["Categorical", "Code", "Continuous", "Gaussian", "Latent", "LatentSpec", "Noise", "Uniform",
           "format_latent", "parse_latent"]
