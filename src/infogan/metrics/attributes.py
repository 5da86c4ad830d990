"""Measurable attributes of digit-like images, and how strongly each continuous code controls them.

The paper (Sec. 5.1, Figure 2) says that on MNIST c2 controls rotation/slant and c3 the width of the digit.
This module turns that into numbers:

- attribute measures over image arrays (light strokes on a dark background, as in MNIST), pure numpy/scipy:
  ``slant`` and ``width``/``height`` from the ink's second moments, ``thickness`` from the distance
  transform of the stroke, ``ink`` mass;
- :func:`code_attribute_correlation`: sweep one continuous code over [-span, span] with the categorical
  code, the other codes and the noise held fixed, measure each image, and average Spearman's rank
  correlation (``scipy.stats.spearmanr``) between code value and attribute over many draws.

    >>> from infogan.metrics.attributes import measure, code_attribute_correlation
    >>> measure(images)["slant"]                      # (N,) degrees, + = top leans right
    >>> code_attribute_correlation(model)["codes"]["c2"]["slant"]["rho_mean"]
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import torch
from scipy import ndimage, stats

from infogan.errors import ConfigError

INK_THRESHOLD = 0.5  # a pixel is stroke when at least half as bright as the image's brightest pixel
STRONG = 0.5  # |mean Spearman rho| from which a code is said to control an attribute


def _as_float(images: np.ndarray | torch.Tensor) -> np.ndarray:
    """(N, H, W), (N, 1, H, W), (N, C, H, W) or (H, W), uint8 0..255 or float 0..1 -> float64 (N, H, W) in [0, 1]."""
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().numpy()
    x = np.asarray(images)
    scale = 255.0 if x.dtype == np.uint8 else 1.0
    x = x.astype(np.float64) / scale
    if x.ndim == 2:
        x = x[None]
    if x.ndim == 4:
        x = x.mean(axis=1)  # channels -> grey (C = 1 for MNIST: a no-op)
    if x.ndim != 3:
        raise ConfigError(f"attribute measures need images (N, H, W) or (N, C, H, W), got shape {x.shape}")
    return np.clip(x, 0.0, 1.0)


def _moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ink mass and central second moments var_x, var_y, cov_xy (pixels^2) of (N, H, W) images.

    Row index y grows downwards, column index x to the right. Blank images give NaN moments.
    """
    _, h, w = x.shape
    ys, xs = np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64)
    mass = x.sum(axis=(1, 2))  # (N,)
    with np.errstate(invalid="ignore", divide="ignore"):
        px, py = x.sum(axis=1) / mass[:, None], x.sum(axis=2) / mass[:, None]  # (N, W), (N, H) marginals
        cx, cy = px @ xs, py @ ys  # (N,) centroid
        var_x = px @ xs ** 2 - cx ** 2
        var_y = py @ ys ** 2 - cy ** 2
        cov = np.einsum("nhw,h,w->n", x, ys, xs) / mass - cx * cy
    return mass, var_x, var_y, cov


def slant(images) -> np.ndarray:
    """Slant in degrees from vertical; positive when the top of the glyph leans to the right.

    The shear that best explains the ink, x - cx ~ s * (y - cy) with s = cov(x, y) / var(y) (the moment
    deskewing of LeCun et al.'s MNIST preprocessing), as an angle: atan(-s) (y grows downwards). A bar
    rotated by theta from vertical measures theta exactly.

    Args:
        images: (N, H, W) or (N, C, H, W), uint8 or float in [0, 1]; light ink on a dark background.
    Returns:
        (N,) float array, NaN for blank images.
    """
    _, _, var_y, cov = _moments(_as_float(images))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.degrees(np.arctan(-cov / var_y))


def width(images) -> np.ndarray:
    """Horizontal extent in pixels after removing the slant: sqrt(12 * var_x' + 1), var_x' = var_x - cov^2/var_y.

    n equal pixels in a row have variance (n^2 - 1) / 12, so an upright bar n pixels wide measures n, and
    shearing it (slanting) does not change the measure.

    Args:
        images: as for :func:`slant`.
    Returns:
        (N,) float array, NaN for blank images.
    """
    _, var_x, var_y, cov = _moments(_as_float(images))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(12.0 * np.maximum(var_x - cov ** 2 / var_y, 0.0) + 1.0)


def height(images) -> np.ndarray:
    """Vertical extent in pixels, sqrt(12 * var_y + 1) (see :func:`width`)."""
    _, _, var_y, _ = _moments(_as_float(images))
    return np.sqrt(12.0 * var_y + 1.0)


def ink(images) -> np.ndarray:
    """Ink mass: the sum of intensities, in pixels of full ink (grows with both stroke width and size)."""
    return _as_float(images).sum(axis=(1, 2))


def thickness(images) -> np.ndarray:
    """Stroke thickness in pixels from the Euclidean distance transform of the stroke.

    The stroke is the set of pixels at least half as bright as the brightest one (for MNIST-like images,
    intensity >= 0.5; relative, so that faint generated glyphs are measured too). Its distance transform
    (scipy.ndimage) peaks
    on the stroke's centre line, where it equals half the local thickness plus half a pixel; the
    measure is ``2 * mean(distance on the ridge) - 1`` over ridge pixels (local maxima in a 3x3
    window). A one-pixel line measures 1, a bar of odd width w measures w.

    Args:
        images: as for :func:`slant`.
    Returns:
        (N,) float array, NaN for blank images.
    """
    x = _as_float(images)
    out = np.full(len(x), np.nan)
    for i, img in enumerate(x):  # scipy's distance transform works on one image at a time
        peak = img.max()
        if peak <= 0:
            continue
        mask = img >= INK_THRESHOLD * peak
        dist = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]  # pad: the border is background
        ridge = mask & (dist >= ndimage.maximum_filter(dist, size=3))
        out[i] = 2.0 * dist[ridge].mean() - 1.0
    return out


ATTRIBUTES: dict[str, tuple[Callable[..., np.ndarray], str]] = {
    "slant": (slant, "degrees from vertical, + = top leans right (second moments)"),
    "width": (width, "deslanted horizontal extent, pixels (second moments)"),
    "thickness": (thickness, "stroke thickness, pixels (distance transform)"),
    "height": (height, "vertical extent, pixels (second moments)"),
    "ink": (ink, "ink mass, pixels of full intensity"),
}
DEFAULT_ATTRIBUTES = ("slant", "width", "thickness", "ink")


def measure(images, names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Every named attribute of a batch of images.

    Args:
        images: (N, H, W) or (N, C, H, W), uint8 or float in [0, 1].
        names: attribute names (default: all of :data:`ATTRIBUTES`).
    Returns:
        {name: (N,) float array}.
    """
    names = list(names or ATTRIBUTES)
    unknown = [n for n in names if n not in ATTRIBUTES]
    if unknown:
        raise ConfigError(f"unknown attribute(s) {unknown}; known: {', '.join(ATTRIBUTES)}")
    x = _as_float(images)
    return {n: ATTRIBUTES[n][0](x) for n in names}


def protocol_name(draws: int, steps: int, span: float = 2.0) -> str:
    """The metric protocol of a sweep setting, e.g. ``code_attributes_200x9`` (span 2) or ``..._span1``."""
    return f"code_attributes_{draws}x{steps}" + ("" if span == 2.0 else f"_span{span:g}")


def sweep_correlations(values: np.ndarray, attribute: np.ndarray) -> np.ndarray:
    """Spearman's rho between one sweep of code values and the attribute, for each draw.

    Args:
        values: (S,) code values of the sweep.
        attribute: (D, S) attribute of each draw at each sweep step.
    Returns:
        (D,) rho per draw, over the steps where the attribute is defined (a blank image has no slant);
        NaN where fewer than 3 steps are defined or the attribute is constant along the sweep.
    """
    out = np.full(attribute.shape[0], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant sweeps: scipy warns and returns NaN, which we keep
        for d, row in enumerate(attribute):
            ok = np.isfinite(row)
            if ok.sum() >= 3:
                out[d] = stats.spearmanr(values[ok], row[ok]).statistic
    return out


def summarise(rho: np.ndarray) -> dict:
    """Mean, sd, mean |rho| and sign agreement of per-draw correlations (NaNs left out)."""
    valid = rho[np.isfinite(rho)]
    if not len(valid):
        return {"rho_mean": None, "rho_sd": None, "abs_rho_mean": None, "sign_agreement": None, "valid": 0}
    mean = float(valid.mean())
    return {"rho_mean": mean, "rho_sd": float(valid.std(ddof=1)) if len(valid) > 1 else 0.0,
            "abs_rho_mean": float(np.abs(valid).mean()),
            "sign_agreement": float(np.mean(np.sign(valid) == (np.sign(mean) or 1.0))), "valid": len(valid)}


@torch.no_grad()
def code_attribute_correlation(model, *, draws: int = 200, steps: int = 9, span: float = 2.0, seed: int = 0,
                               attributes: Sequence[str] = DEFAULT_ATTRIBUTES,
                               codes: Sequence[str] | None = None) -> dict:
    """How strongly each continuous code controls each attribute of the generated image.

    For each continuous code: draw ``draws`` latents from the prior (noise, categorical and the other
    codes), sweep the code over ``steps`` values in [-span, span] with everything else fixed, measure
    the images, and take Spearman's rho between code value and attribute along each sweep.

    Args:
        model: an InfoGAN (G in eval mode: batch norm uses running statistics).
        draws: number of fixed (z, c) draws, each swept once.
        steps: values per sweep.
        span: sweep range [-span, span] (2 = the paper's Figure 2, beyond the training range [-1, 1]).
        seed: seed of the draws.
        attributes: attribute names (see :data:`ATTRIBUTES`).
        codes: code names to sweep (default: every continuous code).
    Returns:
        {"draws", "steps", "span", "attributes", "codes": {code: {attribute: summary, ...,
        "curve": {"values": [S], attribute: [S] mean over draws}, "strongest": attribute}}}; a summary is
        :func:`summarise` of the per-draw rhos.
    """
    from infogan.inference.generate import generate

    if draws < 2 or steps < 3:
        raise ConfigError(f"attribute sweeps need draws >= 2 and steps >= 3, got draws={draws}, steps={steps}")
    spec = model.spec
    names = spec.code_names()
    continuous = [names[i] for i in spec.continuous_indices]
    wanted = list(codes) if codes is not None else continuous
    bad = [c for c in wanted if c not in continuous]
    if bad:
        raise ConfigError(f"{bad} are not continuous codes of this model; continuous codes: {continuous or 'none'}")
    measure(np.zeros((1, 2, 2)), attributes)  # validate the names before generating anything
    values = np.linspace(-span, span, steps)
    base = spec.sample(draws, generator=torch.Generator().manual_seed(seed))
    z = base.z.repeat_interleave(steps, dim=0)  # (D*S, noise_dim): each draw repeated along its sweep
    out: dict = {"draws": draws, "steps": steps, "span": span, "attributes": list(attributes), "codes": {}}
    for code in wanted:
        index = names.index(code)
        latent = [torch.tensor(values, dtype=torch.float32).repeat(draws) if i == index
                  else c.repeat_interleave(steps) for i, c in enumerate(base.codes)]
        images = generate(model, latent, z).cpu()  # (D*S, C, H, W) in G's output range
        if model.config.output == "tanh":
            images = (images + 1.0) / 2.0  # [-1, 1] -> [0, 1]
        measured = measure(images, attributes)
        entry: dict = {"curve": {"values": values.tolist()}}
        for name, column in measured.items():
            grid = column.reshape(draws, steps)  # (D, S)
            entry[name] = summarise(sweep_correlations(values, grid))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # an all-blank step has no mean: NaN, written as None
                curve = np.nanmean(grid, axis=0)
            entry["curve"][name] = [None if not np.isfinite(v) else float(v) for v in curve]
        scored = [(abs(entry[a]["rho_mean"]), a) for a in attributes if entry[a]["rho_mean"] is not None]
        entry["strongest"] = max(scored)[1] if scored else None
        out["codes"][code] = entry
    return out
