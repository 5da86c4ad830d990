"""Pictures: image grids, sample sheets, the paper's Figure 2 traversal sheets and animated traversals. Pure
functions returning uint8 arrays, plus a PNG and a GIF writer."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from infogan.latent.spec import Categorical, Latent
from infogan.models import InfoGAN
from infogan.storage import atomic_write


def to_uint8(images: torch.Tensor, output: str = "sigmoid") -> np.ndarray:
    """Float images in G's output range (B, C, H, W) -> uint8 array (B, H, W, C)."""
    x = images.detach().float().cpu()
    if output == "tanh":
        x = (x + 1.0) / 2.0
    return (x.clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def grid(images: np.ndarray, rows: int, cols: int, *, pad: int = 1, pad_value: int = 255) -> np.ndarray:
    """Tile (rows*cols, H, W, C) uint8 images into one (rows*(H+pad)+pad, cols*(W+pad)+pad, C) image."""
    n, h, w, c = images.shape
    if n != rows * cols:
        raise ValueError(f"grid of {rows}x{cols} needs {rows * cols} images, got {n}")
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), pad_value, dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, cols)
        out[pad + r * (h + pad): pad + r * (h + pad) + h, pad + col * (w + pad): pad + col * (w + pad) + w] = images[i]
    return out


def save_grid(image: np.ndarray, path: str | os.PathLike, *, scale: int = 1,
              root: str | os.PathLike | None = None) -> Path:
    """Write an (H, W, C) uint8 image as PNG atomically (greyscale when C == 1); ``root``: the run folder the
    PNG goes into, whose subfolders must be real folders (see :func:`infogan.storage.atomic_path`)."""
    from PIL import Image

    arr = image[..., 0] if image.shape[-1] == 1 else image
    pil = Image.fromarray(arr)
    if scale > 1:
        pil = pil.resize((pil.width * scale, pil.height * scale), Image.NEAREST)
    path = Path(path)
    atomic_write(path, lambda tmp: pil.save(tmp, format="PNG"), root=root)
    return path


@torch.no_grad()
def sample_sheet(model: InfoGAN, latent: Latent, *, rows: int = 10) -> np.ndarray:
    """A grid of G(z, c) for a fixed latent batch; with a categorical code, row r shows its category r."""
    from infogan.inference.generate import generate

    spec = model.spec
    cats = spec.categorical_indices
    if cats:  # row r = category r of the first categorical code, the same noise and codes in every row
        rows = spec.codes[cats[0]].k
        cols = max(1, latent.z.shape[0] // rows)
        z = latent.z[:cols].repeat(rows, 1)  # (rows*cols, noise_dim)
        codes = [torch.arange(rows).repeat_interleave(cols) if i == cats[0] else c[:cols].repeat(rows)
                 for i, c in enumerate(latent.codes)]
    else:
        cols = max(1, latent.z.shape[0] // rows)
        z, codes = latent.z[:rows * cols], [c[:rows * cols] for c in latent.codes]
    images = generate(model, codes, z)
    return grid(to_uint8(images, model.config.output), rows, cols)


def traversal_sheet(model: InfoGAN, code_index: int, *, steps: int = 10, span: float = 2.0,
                    rows: int = 10, seed: int = 0) -> np.ndarray:
    """The paper's Figure 2 layout for one code.

    For a continuous code: columns sweep it linearly over [-span, span] (default [-2, 2], beyond the
    training range [-1, 1] for uniform codes); rows are the values of the first categorical code (or
    different noise when there is none); every other code and the noise stay fixed.
    For a categorical code: columns are its categories; rows are different noise draws.
    """
    images, rows, cols = traversal_images(model, code_index, steps=steps, span=span, rows=rows, seed=seed)
    return grid(images, rows, cols)


def traversal_frames(model: InfoGAN, code_index: int, *, frames: int = 24, span: float = 2.0, seed: int = 0,
                     per_row: int = 5) -> list[np.ndarray]:
    """The frames of a continuous code sweeping from -span to span and back (an animated traversal).

    Frame j shows every row of :func:`traversal_sheet` (the categories of the first categorical code, or
    noise draws) at the j-th value, tiled ``per_row`` to a line.
    """
    if isinstance(model.spec.codes[code_index], Categorical):
        raise ValueError("an animated traversal sweeps a continuous code; categorical codes have a sheet")
    images, rows, cols = traversal_images(model, code_index, steps=frames, span=span, seed=seed)
    tiles = images.reshape(rows, cols, *images.shape[1:])  # (rows, frames, H, W, C)
    wide = min(per_row, rows)
    tall = -(-rows // wide)
    blank = np.full((wide * tall - rows, *images.shape[1:]), 255, dtype=np.uint8)
    sweep = [grid(np.concatenate([tiles[:, j], blank]), tall, wide) for j in range(cols)]
    return sweep + sweep[-2:0:-1]  # there and back: the loop has no jump


def save_gif(frames: list[np.ndarray], path: str | os.PathLike, *, scale: int = 2, ms_per_frame: int = 80,
             root: str | os.PathLike | None = None) -> Path:
    """Write (H, W, C) uint8 frames as a looping animated GIF, atomically (``root`` as in :func:`save_grid`)."""
    from PIL import Image

    pil = [Image.fromarray(f[..., 0] if f.shape[-1] == 1 else f) for f in frames]
    if scale > 1:
        pil = [im.resize((im.width * scale, im.height * scale), Image.NEAREST) for im in pil]
    path = Path(path)
    atomic_write(path, lambda tmp: pil[0].save(tmp, format="GIF", save_all=True, append_images=pil[1:],
                                               duration=ms_per_frame, loop=0), root=root)
    return path


@torch.no_grad()
def traversal_images(model: InfoGAN, code_index: int, *, steps: int = 10, span: float = 2.0, rows: int = 10,
                     seed: int = 0) -> tuple[np.ndarray, int, int]:
    """The images of :func:`traversal_sheet`, (rows * cols, H, W, C) uint8 in row-major order, with rows, cols."""
    from infogan.inference.generate import generate

    spec = model.spec
    gen = torch.Generator().manual_seed(seed)
    code = spec.codes[code_index]
    base = spec.sample(1, generator=gen)
    cats = [i for i in spec.categorical_indices if i != code_index]
    if isinstance(code, Categorical):
        cols = code.k
        values = torch.arange(cols).repeat(rows)  # row-major: column = category
        z = spec.sample_noise(rows, generator=gen).repeat_interleave(cols, dim=0)
        row_codes = None
    else:
        cols = steps
        values = torch.linspace(-span, span, steps).repeat(rows)
        if cats:
            k = spec.codes[cats[0]].k
            rows = k
            values = torch.linspace(-span, span, steps).repeat(rows)
            row_codes = (cats[0], torch.arange(k).repeat_interleave(cols))
            z = base.z.repeat(rows * cols, 1)
        else:
            row_codes = None
            z = spec.sample_noise(rows, generator=gen).repeat_interleave(cols, dim=0)
    n = rows * cols
    codes = []
    for i, c in enumerate(spec.codes):
        if i == code_index:
            codes.append(values)
        elif row_codes is not None and i == row_codes[0]:
            codes.append(row_codes[1])
        elif isinstance(c, Categorical):
            codes.append(base.codes[i].repeat(n))
        else:
            codes.append(torch.zeros(n))  # other continuous codes held at the prior's centre
    images = generate(model, codes, z)
    return to_uint8(images, model.config.output), rows, cols
