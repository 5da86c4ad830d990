"""The latent code string syntax: ``"noise62,cat10,unif2"`` -> :class:`~infogan.latent.spec.LatentSpec`.

Examples::

    "noise62,cat10,unif2"              # the paper's MNIST layout (Table 1)
    "noise128:normal,cat10x10"         # 10 categorical codes of 10 values, Gaussian noise
    "noise62,cat10,unif2:lambda=0.1:std=fixed"

Items: ``noiseN[:uniform|normal]``, ``catK[xM]``, ``unifN`` (Uniform(-1, 1)), ``gaussN`` (N(0, 1)); each
code item takes ``:lambda=F`` and continuous ones ``:std=learned|fixed[:sigma=F]``.
:func:`format_latent` writes a spec back in this syntax (``parse_latent(format_latent(spec)) == spec``).
"""

from __future__ import annotations

import re

from infogan.errors import ConfigError
from infogan.latent.spec import (
    MAX_CODES,
    Categorical,
    Code,
    Continuous,
    LatentSpec,
    Noise,
)

_ITEM = re.compile(r"^(noise|cat|unif|gauss)(\d{1,7})(?:x(\d{1,7}))?$")
__all__ = ["MAX_CODES", "format_latent", "parse_latent"]


def parse_latent(text: str) -> LatentSpec:
    """Parse e.g. ``"noise62,cat10,unif2:lambda=0.1"`` into a :class:`LatentSpec`.

    Raises:
        ConfigError: naming the bad item and the accepted syntax.
    """
    if not isinstance(text, str) or not text.strip():
        raise ConfigError("empty latent spec: write e.g. 'noise62,cat10,unif2'")
    noise = Noise(0)
    codes: list[Code] = []
    for raw in text.split(","):
        item = raw.strip()
        head, *opts = item.split(":")
        match = _ITEM.match(head.strip().lower())
        if not match:
            raise ConfigError(
                f"bad latent item {item[:40]!r}: expected noiseN[:uniform|normal], catK[xM], unifN or gaussN, "
                "each code optionally followed by :lambda=F and (continuous) :std=learned|fixed[:sigma=F]")
        kind, n, times = match.group(1), int(match.group(2)), match.group(3)
        new = 0 if kind == "noise" else (int(times) if times else 1) if kind == "cat" else n
        if len(codes) + new > MAX_CODES:
            raise ConfigError(f"latent spec {text[:60]!r} asks for more than {MAX_CODES} codes")
        options = _parse_options(item, opts, kind)
        if kind == "noise":
            noise = Noise(n, options.get("prior", "uniform"))
            continue
        lam = options.get("lambda", 1.0)
        if kind == "cat":
            codes += [Categorical(n, lam) for _ in range(int(times) if times else 1)]
        else:
            if times:
                raise ConfigError(f"bad latent item {item!r}: 'xM' repeats categorical codes only")
            prior = "uniform" if kind == "unif" else "normal"
            codes += [Continuous(prior, lam, options.get("std", "learned"), options.get("sigma", 1.0))
                      for _ in range(n)]
    return LatentSpec(noise, tuple(codes))


def format_latent(spec: LatentSpec) -> str:
    """The spec in the code string syntax, one item per code (round-trips through :func:`parse_latent`)."""
    items = [f"noise{spec.noise.dim}:{spec.noise.prior}"]
    for c in spec.codes:
        if isinstance(c, Categorical):
            items.append(f"cat{c.k}:lambda={c.lambda_info:g}")
        else:
            name = "unif" if c.prior == "uniform" else "gauss"
            std = c.q_std if c.q_std == "learned" else f"fixed:sigma={c.fixed_std:g}"
            items.append(f"{name}1:lambda={c.lambda_info:g}:std={std}")
    return ",".join(items)


def _parse_options(item: str, opts: list[str], kind: str) -> dict:
    options: dict = {}
    for opt in opts:
        opt = opt.strip().lower()
        if kind == "noise" and opt in ("uniform", "normal"):
            options["prior"] = opt
        elif opt in ("fixed", "learned") and kind in ("unif", "gauss"):
            options["std"] = opt
        elif "=" in opt:
            key, value = opt.split("=", 1)
            if key == "std" and kind in ("unif", "gauss") and value in ("learned", "fixed"):
                options["std"] = value
            elif key in ("lambda", "sigma") and kind != "noise":
                try:
                    options[key] = float(value)
                except ValueError:
                    raise ConfigError(f"bad number {value!r} in latent item {item!r}") from None
            else:
                raise ConfigError(f"unknown option {opt!r} in latent item {item!r}")
        else:
            raise ConfigError(f"unknown option {opt!r} in latent item {item!r}")
    return options
