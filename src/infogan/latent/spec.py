"""The latent specification: incompressible noise z and the latent codes c = (c_1 ... c_L).

One declarative :class:`LatentSpec` fixes everything that depends on the codes: the generator's input
size, the layout of Q's output, prior sampling, log Q(c|x), the entropies H(c) and the per-code
variational lower bound L_I (Chen et al. 2016, eq. 4). Prior and posterior families are explicit and
separate (openai/InfoGAN's ``Uniform(Gaussian)`` inheritance mixed the two).

The code string syntax (``"noise62,cat10,unif2:lambda=0.1"``) is read and written by :mod:`infogan.latent.syntax`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Literal, Union

import torch
import torch.nn.functional as F

from infogan.errors import ConfigError

LOG_STD_MIN = -5.0  # std >= e^-5 ~ 0.0067: keeps log Q finite when Q's std head saturates
LOG_STD_MAX = 2.0  # std <= e^2 ~ 7.4: a wider posterior carries no information on a unit-range code
LOG_2PI = math.log(2.0 * math.pi)
# Bounds on the sizes a spec may ask for: G's first layer and Q's last one are as wide as the spec says, so a
# spec from a file someone else wrote must not be able to ask for gigabytes before anything checks it.
MAX_NOISE_DIM = 4096  # 30 x the paper's largest (128); a 4096 x 1024 first layer is 16 MiB
MAX_CATEGORIES = 1000  # 50 x the paper's largest categorical code (20 chair types)
MAX_CODES = 1000  # far beyond any experiment; bounds the work a hostile spec string can ask for
MAX_WIDTH = 8192  # G's input and Q's output, all codes together: an 8192 x 1024 layer is 32 MiB
MAX_SPAN = 10.0  # continuous codes are shown over [-span, span]; they train on [-1, 1] or N(0, 1)


@dataclass(frozen=True)
class Noise:
    """Incompressible noise z.

    Args:
        dim: number of noise dimensions (official MNIST code: 62).
        prior: "uniform" for U(-1, 1) (official code) or "normal" for N(0, 1).
    """

    dim: int = 62
    prior: Literal["uniform", "normal"] = "uniform"

    def __post_init__(self) -> None:
        if isinstance(self.dim, bool) or not isinstance(self.dim, int) or self.dim < 0:
            raise ConfigError(f"noise dim must be an integer >= 0, got {self.dim!r}")
        if self.dim > MAX_NOISE_DIM:
            raise ConfigError(f"noise dim {self.dim:,} is more than {MAX_NOISE_DIM:,}; use fewer noise dimensions")
        if self.prior not in ("uniform", "normal"):
            raise ConfigError(f"noise prior must be 'uniform' or 'normal', got {self.prior!r}")


@dataclass(frozen=True)
class Categorical:
    """A categorical code c ~ Cat(K, 1/K); fed to G one-hot, Q's posterior is a softmax.

    Args:
        k: number of categories (>= 2).
        lambda_info: weight of this code's L_I term (paper: 1 for discrete codes).
    """

    k: int
    lambda_info: float = 1.0
    kind: str = field(default="categorical", init=False)

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 2:
            raise ConfigError(f"a categorical code needs k >= 2 categories, got {self.k!r}")
        if self.k > MAX_CATEGORIES:
            raise ConfigError(f"a categorical code of {self.k:,} categories is more than {MAX_CATEGORIES:,}; "
                              "use fewer categories")
        _check_lambda(self.lambda_info)

    @property
    def input_dim(self) -> int:
        return self.k

    @property
    def q_dim(self) -> int:
        return self.k

    def entropy(self) -> float:
        """H(c) = ln K nats."""
        return math.log(self.k)


@dataclass(frozen=True)
class Continuous:
    """A one-dimensional continuous code; Q's posterior is a Gaussian N(mu(x), sigma(x)^2).

    Args:
        prior: "uniform" for U(-1, 1) (paper, MNIST) or "normal" for N(0, 1).
        lambda_info: weight of this code's L_I term (paper: "smaller" than 1; official code: 1).
        q_std: "learned" (paper: sigma = exp(output), clamped to [e^-5, e^2]) or "fixed" (official code).
        fixed_std: sigma used when ``q_std == "fixed"`` (official code: 1.0).
    """

    prior: Literal["uniform", "normal"] = "uniform"
    lambda_info: float = 1.0
    q_std: Literal["learned", "fixed"] = "learned"
    fixed_std: float = 1.0
    kind: str = field(default="continuous", init=False)

    def __post_init__(self) -> None:
        if self.prior not in ("uniform", "normal"):
            raise ConfigError(f"continuous prior must be 'uniform' or 'normal', got {self.prior!r}")
        if self.q_std not in ("learned", "fixed"):
            raise ConfigError(f"q_std must be 'learned' or 'fixed', got {self.q_std!r}")
        if not (isinstance(self.fixed_std, (int, float)) and self.fixed_std > 0):
            raise ConfigError(f"fixed_std must be > 0, got {self.fixed_std!r}")
        _check_lambda(self.lambda_info)

    @property
    def input_dim(self) -> int:
        return 1

    @property
    def q_dim(self) -> int:
        return 2 if self.q_std == "learned" else 1

    def entropy(self) -> float:
        """Differential entropy h(c): ln 2 for U(-1, 1), 0.5 ln(2 pi e) for N(0, 1)."""
        return math.log(2.0) if self.prior == "uniform" else 0.5 * (LOG_2PI + 1.0)


def Uniform(lambda_info: float = 1.0, **kw) -> Continuous:  # noqa: N802 - reads as a distribution name
    """A continuous code with a Uniform(-1, 1) prior."""
    return Continuous(prior="uniform", lambda_info=lambda_info, **kw)


def Gaussian(lambda_info: float = 1.0, **kw) -> Continuous:  # noqa: N802
    """A continuous code with a N(0, 1) prior."""
    return Continuous(prior="normal", lambda_info=lambda_info, **kw)


Code = Union[Categorical, Continuous]


def _check_lambda(value: float) -> None:
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ConfigError(f"lambda must be a finite number >= 0, got {value!r}")


@dataclass(frozen=True)
class Latent:
    """One batch drawn from the prior.

    Attributes:
        z: noise (B, noise_dim).
        codes: one tensor per code: int64 (B,) category for categorical codes, float (B,) for continuous.
    """

    z: torch.Tensor
    codes: tuple[torch.Tensor, ...]


@dataclass(frozen=True)
class LatentSpec:
    """Noise plus an ordered tuple of codes; every size and likelihood derives from it."""

    noise: Noise = Noise()
    codes: tuple[Code, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.codes, tuple):
            object.__setattr__(self, "codes", tuple(self.codes))
        if len(self.codes) > MAX_CODES:
            raise ConfigError(f"the latent spec has {len(self.codes):,} codes, more than {MAX_CODES}; use fewer codes")
        for code in self.codes:
            if not isinstance(code, (Categorical, Continuous)):
                raise ConfigError(f"unknown code {code!r}: use Categorical(k), Uniform() or Gaussian()")
        if self.noise.dim + sum(c.input_dim for c in self.codes) == 0:
            raise ConfigError("the latent spec is empty: give noise dimensions or at least one code")
        for what, width in (("G's input", self.g_input_dim), ("Q's output", self.q_output_dim)):
            if width > MAX_WIDTH:
                raise ConfigError(f"the latent spec makes {what} {width:,} wide, more than {MAX_WIDTH:,}; use "
                                  "fewer or smaller codes")

    # ----- sizes -------------------------------------------------------------------------------------
    @property
    def g_input_dim(self) -> int:
        """Size of G's input: noise dims + one-hot widths + one per continuous code."""
        return self.noise.dim + sum(c.input_dim for c in self.codes)

    @property
    def q_output_dim(self) -> int:
        """Size of Q's output: K logits per categorical code; mean (and log-std) per continuous code."""
        return sum(c.q_dim for c in self.codes)

    @property
    def categorical_indices(self) -> list[int]:
        return [i for i, c in enumerate(self.codes) if isinstance(c, Categorical)]

    @property
    def continuous_indices(self) -> list[int]:
        return [i for i, c in enumerate(self.codes) if isinstance(c, Continuous)]

    def code_names(self) -> list[str]:
        """Names "c1", "c2", ... in the paper's numbering."""
        return [f"c{i + 1}" for i in range(len(self.codes))]

    # ----- prior -------------------------------------------------------------------------------------
    def sample(self, batch: int, *, generator: torch.Generator | None = None,
               device: torch.device | str = "cpu") -> Latent:
        """Draw z and c from their priors.

        Args:
            batch: batch size B.
            generator: explicit RNG, so that a seed fixes everything.
            device: where the tensors live (the generator must live there too).
        Returns:
            A :class:`Latent` with z (B, noise_dim) and one (B,) tensor per code.
        """
        z = self.sample_noise(batch, generator=generator, device=device)
        codes = []
        for code in self.codes:
            if isinstance(code, Categorical):
                codes.append(torch.randint(code.k, (batch,), generator=generator, device=device))
            else:
                codes.append(_draw(code.prior, (batch,), generator, device))
        return Latent(z, tuple(codes))

    def sample_noise(self, batch: int, *, generator: torch.Generator | None = None,
                     device: torch.device | str = "cpu") -> torch.Tensor:
        """Noise z (B, noise_dim) from its prior."""
        return _draw(self.noise.prior, (batch, self.noise.dim), generator, device)

    def g_input(self, z: torch.Tensor, codes: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Concatenate noise, one-hot categories and continuous values into G's input (B, g_input_dim)."""
        if len(codes) != len(self.codes):
            raise ConfigError(f"expected {len(self.codes)} code tensors, got {len(codes)}")
        parts = [z]
        for code, value in zip(self.codes, codes):
            if isinstance(code, Categorical):
                parts.append(F.one_hot(value.long(), code.k).to(z.dtype))  # (B, K)
            else:
                parts.append(value.to(z.dtype).unsqueeze(1))  # (B, 1)
        return torch.cat(parts, dim=1)

    # ----- posterior ---------------------------------------------------------------------------------
    def split_q(self, q_out: torch.Tensor) -> list[torch.Tensor]:
        """Split Q's output (B, q_output_dim) into one chunk per code."""
        return list(torch.split(q_out, [c.q_dim for c in self.codes], dim=1))

    def log_q(self, q_out: torch.Tensor, codes: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """log Q(c_i | x) of each code.

        Args:
            q_out: Q's raw output (B, q_output_dim).
            codes: the codes G was given, as from :meth:`sample`.
        Returns:
            (B, L) log-likelihoods in nats, one column per code.
        """
        q_out = q_out.float()  # likelihoods in fp32 even under bf16 autocast
        cols = []
        for code, chunk, value in zip(self.codes, self.split_q(q_out), codes):
            if isinstance(code, Categorical):
                cols.append(-F.cross_entropy(chunk, value.long(), reduction="none"))
            else:
                mean, log_std = self._gaussian(code, chunk)
                cols.append(gaussian_log_prob(value.float(), mean, log_std))
        return torch.stack(cols, dim=1)

    def _gaussian(self, code: Continuous, chunk: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = chunk[:, 0]
        if code.q_std == "learned":
            log_std = chunk[:, 1].clamp(LOG_STD_MIN, LOG_STD_MAX)  # sigma = exp(output), paper Sec. 5
        else:
            log_std = torch.full_like(mean, math.log(code.fixed_std))
        return mean, log_std

    def entropies(self) -> torch.Tensor:
        """H(c_i) per code (L,), nats (differential entropy for continuous codes)."""
        return torch.tensor([c.entropy() for c in self.codes], dtype=torch.float32)

    def lambdas(self) -> torch.Tensor:
        """lambda_i per code (L,)."""
        return torch.tensor([c.lambda_info for c in self.codes], dtype=torch.float32)

    def posterior(self, q_out: torch.Tensor) -> dict[str, list[torch.Tensor]]:
        """Q's posterior in readable form.

        Returns:
            ``probs``: one (B, K) tensor per categorical code; ``means`` and ``stds``: one (B,) tensor
            per continuous code, in spec order.
        """
        out: dict[str, list[torch.Tensor]] = {"probs": [], "means": [], "stds": []}
        for code, chunk in zip(self.codes, self.split_q(q_out.float())):
            if isinstance(code, Categorical):
                out["probs"].append(chunk.softmax(dim=1))
            else:
                mean, log_std = self._gaussian(code, chunk)
                out["means"].append(mean)
                out["stds"].append(log_std.exp())
        return out

    # ----- serialisation -----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"noise": asdict(self.noise),
                "codes": [{k: v for k, v in asdict(c).items()} for c in self.codes]}

    @classmethod
    def from_dict(cls, data: dict) -> "LatentSpec":
        if not isinstance(data, dict) or set(data) - {"noise", "codes"}:
            raise ConfigError(f"malformed latent spec {data!r}: expected an object with 'noise' and 'codes' only")
        try:
            noise = Noise(**data.get("noise", {}))
            items = data.get("codes", [])
            if isinstance(items, list) and len(items) > MAX_CODES:
                raise ConfigError(f"the latent spec has {len(items):,} codes, more than {MAX_CODES}; use fewer codes")
            codes = []
            for item in items:
                if not isinstance(item, dict):
                    raise TypeError(f"code {item!r} is not an object")
                item = dict(item)
                kind = item.pop("kind", None)
                if kind == "categorical":
                    codes.append(Categorical(**item))
                elif kind == "continuous":
                    codes.append(Continuous(**item))
                else:
                    raise ConfigError(f"unknown code kind {kind!r}: expected 'categorical' or 'continuous'")
            return cls(noise, tuple(codes))
        except TypeError as exc:
            raise ConfigError(f"malformed latent spec {data!r}: {exc}") from None


def gaussian_log_prob(value: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """log N(value; mean, exp(log_std)^2), elementwise."""
    return -0.5 * LOG_2PI - log_std - 0.5 * ((value - mean) * torch.exp(-log_std)) ** 2


def _draw(prior: str, shape: tuple, generator, device) -> torch.Tensor:
    if prior == "uniform":
        return torch.rand(shape, generator=generator, device=device) * 2.0 - 1.0
    return torch.randn(shape, generator=generator, device=device)
