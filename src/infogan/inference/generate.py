"""The one inference entry point: generate images for chosen codes, and encode images to code posteriors."""

from __future__ import annotations

from typing import Sequence

import torch

from infogan.errors import ConfigError
from infogan.latent.spec import Categorical, Latent
from infogan.latent.syntax import format_latent
from infogan.models import InfoGAN


def _device(model: InfoGAN) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def generate(model: InfoGAN, codes: Sequence[torch.Tensor | Sequence | float | int] | None = None,
             z: torch.Tensor | None = None, *, n: int | None = None,
             generator: torch.Generator | None = None, batch_size: int = 1000) -> torch.Tensor:
    """Generate images for chosen codes.

    Args:
        model: the networks (set to eval mode here: G's batch norm uses running statistics).
        codes: one entry per code: a (B,) tensor or list (category index for categorical codes, value for
            continuous ones), or a scalar broadcast over the batch, or None to draw it from the prior.
        z: noise (B, noise_dim); drawn from the prior when None.
        n: batch size when neither z nor a tensor code fixes it.
        generator: RNG for whatever is drawn from the prior.
        batch_size: chunk size of G calls (bounds memory).
    Returns:
        Images (B, C, H, W) in G's output range ([0, 1] for sigmoid presets, [-1, 1] for tanh ones), float32
        on the model's device.
    """
    spec, device = model.spec, _device(model)
    latent = resolve_latent(model, codes, z, n=n, generator=generator)
    model.eval()
    x = spec.g_input(latent.z.to(device), tuple(c.to(device) for c in latent.codes))
    return torch.cat([model.G(chunk).float() for chunk in x.split(batch_size)])


def resolve_latent(model: InfoGAN, codes=None, z=None, *, n: int | None = None,
                   generator: torch.Generator | None = None) -> Latent:
    """Fill in a full :class:`Latent` from partial user input (see :func:`generate`)."""
    spec = model.spec
    codes = list(codes) if codes is not None else [None] * len(spec.codes)
    if len(codes) != len(spec.codes):
        raise ConfigError(f"this model has {len(spec.codes)} codes ({format_latent(spec)}); got {len(codes)} values")
    sizes = {len(torch.as_tensor(c).reshape(-1)) for c in codes if c is not None and torch.as_tensor(c).ndim > 0}
    if z is not None:
        sizes.add(z.shape[0])
    if len(sizes) > 1:
        raise ConfigError(f"codes and z disagree on the batch size: {sorted(sizes)}")
    batch = sizes.pop() if sizes else (n or 1)
    prior = spec.sample(batch, generator=generator)
    out = []
    for i, (code, value) in enumerate(zip(spec.codes, codes)):
        if value is None:
            out.append(prior.codes[i])
            continue
        t = torch.as_tensor(value).reshape(-1).expand(batch) if torch.as_tensor(value).ndim == 0 \
            else torch.as_tensor(value).reshape(-1)
        if isinstance(code, Categorical):
            t = t.long()
            if (t < 0).any() or (t >= code.k).any():
                raise ConfigError(f"code c{i + 1} is Cat({code.k}): values must be in 0..{code.k - 1}")
        else:
            t = t.float()
        out.append(t)
    if z is None:
        z = prior.z
    elif z.shape[1:] != (spec.noise.dim,):
        raise ConfigError(f"z must have shape (B, {spec.noise.dim}), got {tuple(z.shape)}")
    return Latent(z.float(), tuple(out))


def to_model_range(model: InfoGAN, images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, C, H, W) or float images in [0, 1] -> float in G's output range."""
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    return x * 2.0 - 1.0 if model.config.output == "tanh" else x


@torch.no_grad()
def encode(model: InfoGAN, images: torch.Tensor, *, batch_size: int = 1000) -> dict[str, list[torch.Tensor]]:
    """Q's posterior for real images.

    Args:
        model: the networks (eval mode: batch norm uses running statistics).
        images: uint8 (B, C, H, W) in 0..255, or float in [0, 1]; must match the model's image shape.
        batch_size: chunk size.
    Returns:
        ``probs`` (one (B, K) tensor per categorical code), ``means`` and ``stds`` (one (B,) tensor per
        continuous code), all on the CPU.
    """
    expected = tuple(model.config.image_shape)
    if not isinstance(images, torch.Tensor) or not (images.dtype == torch.uint8 or images.is_floating_point()):
        kind = f"a {images.dtype} tensor" if isinstance(images, torch.Tensor) else f"a {type(images).__name__}"
        raise ConfigError(f"encode expects a uint8 (0..255) or float ([0, 1]) torch.Tensor of images, got {kind}; "
                          "convert it first (e.g. torch.from_numpy(array))")
    if images.ndim != 4 or tuple(images.shape[1:]) != expected or images.shape[0] == 0:
        raise ConfigError(f"encode expects images of shape (B, {', '.join(map(str, expected))}), got "
                          f"{tuple(images.shape)}; resize/convert them first (infogan encode does this)")
    model.eval()
    device = _device(model)
    outs = [model.D(to_model_range(model, chunk.to(device)))[1].float().cpu()
            for chunk in images.split(batch_size)]
    return model.spec.posterior(torch.cat(outs))
