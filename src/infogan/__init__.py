"""InfoGAN (Chen et al., 2016) in PyTorch.

    import infogan
    cfg = infogan.get_preset("mnist")                     # the paper's MNIST experiment
    result = infogan.train(cfg, outdir="runs")            # -> runs/00000-mnist-seed0/
    model = infogan.load(result.run_dir)                  # G, D, Q rebuilt from the snapshot
    images = infogan.generate(model, codes=[3, 0.5, None], n=16)   # digit category 3, c2 = 0.5
    post = infogan.encode(model, real_images)             # category probabilities, continuous means/stds

The public names are imported on first use (PEP 562), so that ``import infogan`` alone, and the start of
``python -m infogan`` before its Ctrl-C handler, do not wait for torch.
"""

from __future__ import annotations

import importlib

__version__ = "0.2.0"

_EXPORTS = {
    "evaluate_run": "infogan.api", "train": "infogan.api", "write_traversals": "infogan.api",
    "load": "infogan.snapshot",
    "Categorical": "infogan.latent.spec", "Continuous": "infogan.latent.spec", "Gaussian": "infogan.latent.spec",
    "LatentSpec": "infogan.latent.spec", "Noise": "infogan.latent.spec", "Uniform": "infogan.latent.spec",
    "parse_latent": "infogan.latent.syntax",
    "DataConfig": "infogan.config", "ModelConfig": "infogan.config", "OptimConfig": "infogan.config",
    "RunConfig": "infogan.config", "TrainConfig": "infogan.config",
    "PRESETS": "infogan.config.presets", "get_preset": "infogan.config.presets",
    "encode": "infogan.inference.generate", "generate": "infogan.inference.generate",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    """A public name (imported from its module on first use) or a subpackage (``infogan.snapshot``)."""
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    if not name.startswith("__"):
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
