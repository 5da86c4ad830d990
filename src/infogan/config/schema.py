"""Frozen, validated configuration dataclasses, serialised to and from JSON.

A :class:`RunConfig` holds everything a run needs; it is written to ``config.json`` before step 0 and
stored inside every snapshot so that ``load(path)`` rebuilds the networks with no flags. Presets (one per
paper experiment) live in :mod:`infogan.config.presets`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from infogan.config.checks import check_keys as _check_keys
from infogan.config.checks import choice as _choice
from infogan.config.checks import integer_in as _integer_in
from infogan.config.checks import number_in as _number_in
from infogan.config.checks import positive as _positive
from infogan.config.checks import typed as _typed
from infogan.errors import ConfigError
from infogan.latent.spec import LatentSpec
from infogan.latent.syntax import parse_latent

# Bounds on sizes a config may ask for: a config or snapshot from elsewhere decides what is allocated, so
# absurd sizes are refused before anything is built.
MAX_IMAGE_SIDE = 1024  # 16 x the paper's largest images (64 x 64); G's and D's layers scale with the area
MAX_CHANNELS = 4  # greyscale, RGB (and an alpha channel); the data loaders make 1 or 3
MAX_ITERATIONS = 10**9  # a billion updates is years at any speed; also bounds the steps read from files
MAX_BATCH_SIZE = 65_536  # far beyond the paper's 64-128; a batch is allocated whole at every step
MAX_SEED = 2**32 - 1  # seeds are combined with the rank and step into 64-bit generator seeds
MAX_SUBSET = 10**9  # more images than any dataset here holds
MAX_CONFIG_BYTES = 1 << 20  # a config.json is a few kB; anything larger is not one
EVAL_SAMPLES = (100, 100_000)  # samples of one evaluation: fewer say nothing, more than 10 x the protocols'


@dataclass(frozen=True)
class ModelConfig:
    """Architecture and latent layout.

    Args:
        arch: registered architecture name (see ``infogan.models.ARCHITECTURES``).
        latent: the latent spec (noise + codes).
        image_shape: (C, H, W) of the images.
        leaky_slope: leaky ReLU slope in D (paper 0.1; official code 0.01).
        output: G's output nonlinearity, "sigmoid" (data in [0, 1]) or "tanh" (data in [-1, 1]).
        spectral_norm: wrap D's layers in spectral normalisation (InfoGAN-CR's dSprites setup).
    """

    arch: str = "mnist"
    latent: LatentSpec = field(default_factory=lambda: parse_latent("noise62,cat10,unif2"))
    image_shape: tuple[int, int, int] = (1, 28, 28)
    leaky_slope: float = 0.1
    output: Literal["sigmoid", "tanh"] = "sigmoid"
    spectral_norm: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.latent, str):
            object.__setattr__(self, "latent", parse_latent(self.latent))
        elif isinstance(self.latent, dict):
            object.__setattr__(self, "latent", LatentSpec.from_dict(self.latent))
        if not isinstance(self.latent, LatentSpec):
            raise ConfigError(f"latent must be a spec string like 'noise62,cat10,unif2' or an object, "
                              f"got {self.latent!r}")
        _typed("arch", self.arch, str)
        _typed("spectral_norm", self.spectral_norm, bool)
        object.__setattr__(self, "image_shape", tuple(self.image_shape))
        if len(self.image_shape) != 3:
            raise ConfigError(f"image_shape must be (C, H, W), got {self.image_shape!r}")
        for i, v in enumerate(self.image_shape):
            _positive(f"image_shape[{i}]", v, integer=True, top=MAX_CHANNELS if i == 0 else MAX_IMAGE_SIDE)
        if not (isinstance(self.leaky_slope, (int, float)) and 0 <= self.leaky_slope < 1):
            raise ConfigError(f"leaky_slope must be in [0, 1), got {self.leaky_slope!r}")
        if self.output not in ("sigmoid", "tanh"):
            raise ConfigError(f"output must be 'sigmoid' or 'tanh', got {self.output!r}")


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser settings; defaults from the official code (Adam beta1 0.5, lr D/Q 2e-4, lr G 1e-3).

    Args:
        lr_d: learning rate of D, the shared trunk and Q's head.
        lr_g: learning rate of G.
        beta1, beta2: Adam betas.
        info_to_g: reward G for mutual information (InfoGAN). False gives the paper's Figure 1 baseline:
            a GAN with Q attached, Q still trained on its own loss in the D phase.
        info_to_d: put lambda*L_I into the D phase as well, so D's optimiser trains Q's head and the
            shared trunk (official code; the default).
        consistency: weight of the transform-consistency term (:mod:`infogan.training.augment`): the categorical
            codes' information loss again on a randomly rotated/scaled/shifted G(z, c), in the phases that
            get the information loss. 0 (the paper) turns it off; ``mnist-consistent`` uses 1.
        consistency_rotation: largest rotation of that transform, degrees.
        consistency_scale: largest relative zoom.
        consistency_shift: largest shift, as a fraction of the image size.
        consistency_to_g: the consistency term in G's loss too (False: in D's only, so that only Q learns
            to read categories under the transforms and G is not pushed by them).
        consistency_real: weight of the same invariance on real images, in D's loss: Q's categories of a
            transformed real image must match those of the image (0: off).
        consistency_warmup: iterations over which the consistency weights ramp linearly from 0 (0: none).
        g_latent: "shared": G's step reuses the D step's z, c and G(z, c) (one G forward per iteration);
            "fresh": it draws new z, c and runs G again, as the official code does (each of its session
            runs samples anew).
        g_steps: G updates per iteration (InfoGAN-CR's dSprites code: 2, the second on G(z, c) computed again).
        d_steps: D/Q updates per iteration (1: the paper's and the official code's alternation). With more,
            each extra update comes first and draws its own real batch, z and c, the "k steps" of Goodfellow
            et al. (2014), Algorithm 1; the last one shares G(z, c) with the G phase as usual.
        g_logit_bound: 0: off; > 0: G's loss gains mean(relu(|a| - bound)^2) over the inputs a of G's output
            sigmoid or tanh (on binary data G drives them to hundreds, where the sigmoid passes no gradient).
        loss_eps: 0: the GAN losses from logits (softplus); > 0: -log(D + eps) with D = sigmoid(logit), as
            InfoGAN-CR writes them (eps 1e-8).
        sn_update: "every_call": spectral norm's power iteration advances at every training-mode forward
            (PyTorch's); "per_iteration": once per iteration, after the G step (InfoGAN-CR's code; only
            for architectures with that spectral norm, dsprites-cr).
    """

    lr_d: float = 2e-4
    lr_g: float = 1e-3
    beta1: float = 0.5
    beta2: float = 0.999
    info_to_g: bool = True
    info_to_d: bool = True
    consistency: float = 0.0
    consistency_rotation: float = 20.0
    consistency_scale: float = 0.1
    consistency_shift: float = 0.1
    consistency_to_g: bool = True
    consistency_real: float = 0.0
    consistency_warmup: int = 0
    g_latent: Literal["shared", "fresh"] = "shared"
    g_steps: int = 1
    d_steps: int = 1
    g_logit_bound: float = 0.0
    loss_eps: float = 0.0
    sn_update: Literal["every_call", "per_iteration"] = "every_call"

    def __post_init__(self) -> None:
        _positive("lr_d", self.lr_d)
        _positive("lr_g", self.lr_g)
        for name in ("beta1", "beta2"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and 0 <= v < 1):
                raise ConfigError(f"{name} must be in [0, 1), got {v!r}")
        _typed("info_to_g", self.info_to_g, bool)
        _typed("info_to_d", self.info_to_d, bool)
        if not self.info_to_d and not self.info_to_g:
            raise ConfigError("info_to_d and info_to_g are both off: Q would never be trained")
        for name, top in (("consistency", math.inf), ("consistency_rotation", 180.0),
                          ("consistency_scale", 0.9), ("consistency_shift", 0.5), ("consistency_real", 100.0)):
            _number_in(name, getattr(self, name), 0, top)
        _typed("consistency_to_g", self.consistency_to_g, bool)
        if isinstance(self.consistency_warmup, bool) or not isinstance(self.consistency_warmup, int) or \
                self.consistency_warmup < 0:
            raise ConfigError(f"consistency_warmup must be an integer >= 0, got {self.consistency_warmup!r}")
        _choice("g_latent", self.g_latent, ("shared", "fresh"))
        _choice("sn_update", self.sn_update, ("every_call", "per_iteration"))
        _integer_in("g_steps", self.g_steps, 1, 10)
        _integer_in("d_steps", self.d_steps, 1, 10)
        _number_in("g_logit_bound", self.g_logit_bound, 0, 1000)
        if isinstance(self.loss_eps, bool) or not isinstance(self.loss_eps, (int, float)) or not 0 <= self.loss_eps < 1:
            raise ConfigError(f"loss_eps must be a number in [0, 1), got {self.loss_eps!r}")


@dataclass(frozen=True)
class TrainConfig:
    """Schedule and execution.

    Args:
        iterations: number of D+G updates (official MNIST schedule: 5,000 at batch 128).
        batch_size: images per update, all processes together: under torchrun each of N processes draws
            batch_size / N, so the learning rates keep their meaning whatever the process count.
        tick: iterations between progress records (stats.jsonl, TensorBoard, sample grid).
        snapshot_every: iterations between snapshots + resume states (a multiple of ``tick``).
        seed: fixes every random number of the run.
        precision: "auto" (bf16 autocast where the hardware has it), "fp32" or "bf16".
        compile: wrap G and D in ``torch.compile`` (falls back to eager with a warning if it fails).
        compile_mode: ``torch.compile``'s mode ("": the default; "reduce-overhead": CUDA graphs, for small
            networks whose GPU steps are bound by kernel launches).
        device: "auto", "cpu", "cuda", "cuda:N".
        deterministic: use deterministic algorithms (bit-exact resume on CPU).
        nan_policy: "stop" on a non-finite loss, or "rollback" to the last snapshot with halved lrs.
        sync_batchnorm: under torchrun, batch norm statistics span the global batch (SyncBatchNorm);
            False keeps each process's own statistics.
        sampling: "uniform": each real batch is drawn with replacement (the default); "epoch": every image
            once per epoch in a fresh random order, as InfoGAN-CR's code shuffles.
        eval_every: iterations between sample-quality evaluations during training (0: none), written to
            the run's metric files as a curve (a multiple of ``tick``).
        eval_samples: samples of each of those evaluations (their protocol names say how many).
        eval_metrics: comma-separated metrics of those evaluations ("": the dataset's default, FID and code
            accuracy on MNIST, the shape score on dSprites).
    """

    iterations: int = 5000
    batch_size: int = 128
    tick: int = 100
    snapshot_every: int = 1000
    seed: int = 0
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    compile: bool = False
    compile_mode: str = ""
    device: str = "auto"
    deterministic: bool = False
    nan_policy: Literal["stop", "rollback"] = "stop"
    sync_batchnorm: bool = True
    sampling: Literal["uniform", "epoch"] = "uniform"
    eval_every: int = 0
    eval_samples: int = 2000
    eval_metrics: str = ""

    def __post_init__(self) -> None:
        _positive("iterations", self.iterations, integer=True, top=MAX_ITERATIONS)
        _positive("batch_size", self.batch_size, integer=True, top=MAX_BATCH_SIZE)
        _positive("tick", self.tick, integer=True, top=MAX_ITERATIONS)
        _positive("snapshot_every", self.snapshot_every, integer=True, top=MAX_ITERATIONS)
        if self.snapshot_every % self.tick:
            raise ConfigError(f"snapshot_every ({self.snapshot_every}) must be a multiple of tick "
                              f"({self.tick}) so that resume lands on a tick boundary")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ConfigError(f"seed must be an integer >= 0, got {self.seed!r}")
        _integer_in("seed", self.seed, 0, MAX_SEED)
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ConfigError(f"precision must be auto, fp32 or bf16, got {self.precision!r}")
        if self.nan_policy not in ("stop", "rollback"):
            raise ConfigError(f"nan_policy must be 'stop' or 'rollback', got {self.nan_policy!r}")
        for name in ("compile", "deterministic", "sync_batchnorm"):
            _typed(name, getattr(self, name), bool)
        _typed("device", self.device, str)
        _choice("compile_mode", self.compile_mode, ("", "default", "reduce-overhead", "max-autotune"))
        _choice("sampling", self.sampling, ("uniform", "epoch"))
        if isinstance(self.eval_every, bool) or not isinstance(self.eval_every, int) or not (
                0 <= self.eval_every <= MAX_ITERATIONS) or (self.eval_every and self.eval_every % self.tick):
            raise ConfigError(f"eval_every must be 0 or a multiple of tick ({self.tick}), got {self.eval_every!r}")
        _integer_in("eval_samples", self.eval_samples, *EVAL_SAMPLES)
        _typed("eval_metrics", self.eval_metrics, str)


@dataclass(frozen=True)
class DataConfig:
    """Which dataset to train on.

    Args:
        dataset: a dataset spec understood by ``infogan.data.load_dataset`` ("mnist", "fake",
            "imagefolder:PATH", ...).
        data_dir: cache folder (default: $INFOGAN_DATA_DIR or ~/.cache/infogan).
        subset: use only the first N training images (0 = all).
    """

    dataset: str = "mnist"
    data_dir: str | None = None
    subset: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.dataset, str) or not self.dataset:
            raise ConfigError(f"dataset must be a non-empty string, got {self.dataset!r}")
        if not isinstance(self.subset, int) or isinstance(self.subset, bool) or self.subset < 0:
            raise ConfigError(f"subset must be an integer >= 0, got {self.subset!r}")
        _integer_in("subset", self.subset, 0, MAX_SUBSET)
        _typed("data_dir", self.data_dir, str, optional=True)


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs; written to ``config.json``."""

    preset: str = "mnist"
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)
    notes: str = ""

    def __post_init__(self) -> None:
        _typed("preset", self.preset, str)
        _typed("notes", self.notes, str)

    @property
    def is_baseline(self) -> bool:
        """A GAN with Q attached (the paper's Figure 1 baseline): G is not rewarded for mutual information."""
        return not self.optim.info_to_g

    @property
    def base_preset(self) -> str:
        """The preset without the ``-baseline`` suffix that :meth:`as_baseline` adds."""
        return self.preset.removesuffix("-baseline")

    def as_baseline(self) -> "RunConfig":
        """This config's Figure 1 baseline: the same everything, G not rewarded for mutual information."""
        return self.replace(preset=f"{self.base_preset}-baseline", optim={"info_to_g": False})

    def with_tick(self, tick: int) -> "RunConfig":
        """A copy with ``tick``; ``snapshot_every`` (and ``eval_every``) become the nearest multiple of it that is
        not larger than the old interval or the run (at least one tick); a tick longer than the run becomes the
        run."""
        train = self.train
        tick = min(tick, train.iterations)
        every = tick * max(1, min(train.snapshot_every, train.iterations) // tick)
        evals = tick * max(1, train.eval_every // tick) if train.eval_every else 0
        return self.replace(train={"tick": tick, "snapshot_every": every, "eval_every": evals})

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["model"]["latent"] = self.model.latent.to_dict()
        out["model"]["image_shape"] = list(self.model.image_shape)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "RunConfig":
        """Rebuild from :meth:`to_dict` output; unknown keys are an error (never silently dropped)."""
        if not isinstance(data, dict):
            raise ConfigError(f"a config must be a JSON object, got {type(data).__name__}")
        sections = {"model": ModelConfig, "optim": OptimConfig, "train": TrainConfig, "data": DataConfig}
        kwargs: dict[str, Any] = {}
        _check_keys("config", data, {f.name for f in fields(cls)})
        for key, value in data.items():
            if key in sections:
                if not isinstance(value, dict):
                    raise ConfigError(f"config section {key!r} must be an object, got {value!r}")
                klass = sections[key]
                _check_keys(key, value, {f.name for f in fields(klass)})
                try:
                    kwargs[key] = klass(**value)
                except TypeError as exc:
                    raise ConfigError(f"config section {key!r}: {exc}") from None
            else:
                kwargs[key] = value
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str) -> "RunConfig":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"config is not valid JSON: {exc}") from None
        except RecursionError:
            raise ConfigError("config is nested too deeply to be an infogan config") from None
        return cls.from_dict(data)

    def replace(self, **sections: dict) -> "RunConfig":
        """A copy with fields of sections replaced, e.g. ``cfg.replace(train={"seed": 1})``."""
        changes = {}
        for name, updates in sections.items():
            if name in ("preset", "notes"):
                changes[name] = updates
                continue
            current = getattr(self, name)
            _check_keys(name, updates, {f.name for f in fields(current)})
            changes[name] = dataclasses.replace(current, **updates)
        return dataclasses.replace(self, **changes)

