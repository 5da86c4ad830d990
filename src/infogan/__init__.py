"""InfoGAN (Chen et al., 2016) in PyTorch.

    import infogan
    cfg = infogan.get_preset("mnist")                     # the paper's MNIST experiment
    result = infogan.train(cfg, outdir="runs")            # -> runs/00000-mnist-seed0/
    model = infogan.load(result.run_dir)                  # G, D, Q rebuilt from the snapshot
    images = infogan.generate(model, codes=[3, 0.5, None], n=16)   # digit category 3, c2 = 0.5
    post = infogan.encode(model, real_images)             # category probabilities, continuous means/stds
"""

__version__ = "0.2.0"

from infogan.api import evaluate_run, train, write_traversals  # noqa: E402
from infogan.snapshot import load  # noqa: E402
from infogan.latent.spec import Categorical, Continuous, Gaussian, LatentSpec, Noise, Uniform  # noqa: E402
from infogan.latent.syntax import parse_latent  # noqa: E402
from infogan.config import DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig  # noqa: E402
from infogan.config.presets import PRESETS, get_preset  # noqa: E402
from infogan.inference.generate import encode, generate  # noqa: E402

__all__ = ["Categorical", "Continuous", "DataConfig", "Gaussian", "LatentSpec", "ModelConfig", "Noise",
           "OptimConfig", "PRESETS", "RunConfig", "TrainConfig", "Uniform", "encode", "evaluate_run",
           "generate", "get_preset", "load", "parse_latent", "train", "write_traversals"]
