"""dSprites, rendered by this package: 737,280 binary 64x64 sprites on a full factor grid.

DeepMind's dSprites (Matthey et al., 2017) is procedurally generated, so we draw it ourselves with the
same factors of variation and the same canonical order as ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz``
(the aim is the same factors, not a pixel copy of their sprites):

    shape        3 classes   square, ellipse, heart          value 1, 2, 3
    scale        6 classes   linspace(0.5, 1, 6)
    orientation 40 classes   linspace(0, 2 pi, 40), inclusive (0 and 2 pi draw the same image, as in theirs)
    pos_x       32 classes   linspace(0, 1, 32)
    pos_y       32 classes   linspace(0, 1, 32)

Index ``i`` of the full set has classes ``np.unravel_index(i, (3, 6, 40, 32, 32))``: shape varies slowest,
pos_y fastest. DeepMind's constant ``color`` column (always 1) is left out of our factor arrays.

How a sprite is drawn (pixel ``(row, col)`` covers ``[col, col+1) x [row, row+1)``; x right, y down):
    * Position: the shape's area centroid sits at ``x = 8.75 + 46.5 * pos_x`` (column) and
      ``y = 8.75 + 46.5 * pos_y`` (row, growing downwards), i.e. pixels 8.75..55.25, symmetric about the
      image centre 32, 1.5 px per class step (DeepMind's span is roughly pixels 8..56).
    * Size: every shape fits in a disk of radius ``8.5 * scale`` px around its centroid, so it never
      leaves the 64x64 frame. At scale 1: square of side 12.0 px (half-diagonal 8.5); ellipse with
      semi-axes 8.5 x 4.25 px (long axis horizontal at orientation 0); heart 15.0 px wide, 14.7 px tall.
    * Heart: the implicit curve ``(X^2 + Y^2 - 1)^3 - X^2 Y^3 <= 0`` (Y up, point at the bottom), moved so
      that its area centroid (Y = 0.2935) is the origin; its farthest point, the tip, is then 1.2935
      units away, and that distance is mapped to ``8.5 * scale`` px (both numbers measured numerically
      on a 3201^2 grid).
    * Orientation: rotation about the centroid by the orientation angle, counter-clockwise on screen.
    * Pixels: 4x4 supersamples per pixel, pixel is on when at least half its samples are inside.

Speed: the centroids lie on a half-pixel lattice (x = 8.75 + 1.5 j has fractional part 0.75 or 0.25), so
every image is an integer shift of one of 3 * 6 * 40 * 2 * 2 = 2,880 small templates rendered once
(exactly, not an approximation), and rendering is a vectorised gather/scatter. Measured on a 2-core CPU
machine (numpy, one thread): all 737,280 images in 5-9 s (the spread is the first touch of the 3 GB
output; building the templates takes 0.3 s); render plus writing the 2.9 MB packed-bit cache about 5 s
on a warm process; loading the cache about 1.5 s.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from infogan.data.base import ImageData, default_data_dir
from infogan.errors import DataError

FACTOR_NAMES = ("shape", "scale", "orientation", "pos_x", "pos_y")
FACTOR_SIZES = (3, 6, 40, 32, 32)
NUM_IMAGES = int(np.prod(FACTOR_SIZES))  # 737,280
IMAGE_SIZE = 64
SHAPE_NAMES = ("square", "ellipse", "heart")
DEEPMIND_FILE = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
CACHE_FILE = "dsprites_rendered_v1.npz"
RENDER_VERSION = 1  # bump whenever the drawing changes, so old caches are re-rendered

# The grid of factor values, as in DeepMind's latents_values (without the colour column).
_VALUE_GRIDS = (
    np.arange(1.0, 4.0),  # shape 1, 2, 3
    np.linspace(0.5, 1.0, 6),
    np.linspace(0.0, 2.0 * np.pi, 40),
    np.linspace(0.0, 1.0, 32),
    np.linspace(0.0, 1.0, 32),
)

POS_FIRST_PX = 8.75  # centroid of class 0, in pixels
POS_STEP_PX = 1.5  # pixels per position class: 31 steps span 46.5 px
RADIUS_PX = 8.5  # every shape fits in a disk of radius RADIUS_PX * scale around its centroid
_HEART_CENTROID_Y = 0.2935  # area centroid of the implicit heart (Y up), measured numerically
_HEART_RADIUS = 1.2935  # distance from that centroid to the tip (0, -1), the farthest point

_SUPERSAMPLE = 4  # samples per pixel along each axis
_PATCH = 20  # template side: centroid +- 10 px covers the 8.5 px radius plus the sub-pixel phase
_PAD = 2  # canvas margin so that a patch around a centroid at 8.75 px (origin -2) fits
_PHASES = (0.75, 0.25)  # fractional part of the centroid for even / odd position classes


def all_factor_classes() -> np.ndarray:
    """Factor classes of the full set in canonical order (shape slowest, pos_y fastest).

    Returns:
        int64 array (737280, 5): columns shape, scale, orientation, pos_x, pos_y.
    """
    grids = np.meshgrid(*[np.arange(s) for s in FACTOR_SIZES], indexing="ij")
    return np.stack([g.reshape(-1) for g in grids], axis=1).astype(np.int64)


def _check_classes(classes: np.ndarray) -> np.ndarray:
    classes = np.asarray(classes)
    if classes.ndim != 2 or classes.shape[1] != len(FACTOR_SIZES):
        raise DataError(
            f"dSprites factor classes must have shape (N, 5) [shape, scale, orientation, pos_x, pos_y], "
            f"got {classes.shape}"
        )
    if not np.issubdtype(classes.dtype, np.integer):
        raise DataError(f"dSprites factor classes must be integers, got dtype {classes.dtype}; "
                        "pass class indices, or convert values with factor_classes_from_values()")
    sizes = np.asarray(FACTOR_SIZES)
    bad = (classes < 0) | (classes >= sizes)
    if bad.any():
        col = int(np.nonzero(bad.any(axis=0))[0][0])
        raise DataError(f"dSprites factor {FACTOR_NAMES[col]!r} has classes outside 0..{sizes[col] - 1}")
    return classes.astype(np.int64, copy=False)


def factor_values(classes: np.ndarray) -> np.ndarray:
    """Map factor classes to factor values (DeepMind's latents_values without the colour column).

    Args:
        classes: int array (N, 5) of factor classes.

    Returns:
        float64 array (N, 5): shape 1..3, scale 0.5..1, orientation 0..2pi, pos_x 0..1, pos_y 0..1.
    """
    classes = _check_classes(classes)
    return np.stack([grid[classes[:, k]] for k, grid in enumerate(_VALUE_GRIDS)], axis=1)


def factor_classes_from_values(values: np.ndarray) -> np.ndarray:
    """Inverse of :func:`factor_values`: the nearest grid class of each value.

    Args:
        values: float array (N, 5) of factor values.

    Returns:
        int64 array (N, 5) of factor classes.

    Raises:
        DataError: if a value is not (within 1e-4) on the dSprites grid.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != len(FACTOR_SIZES):
        raise DataError(f"dSprites factor values must have shape (N, 5), got {values.shape}")
    classes = np.empty(values.shape, dtype=np.int64)
    for k, grid in enumerate(_VALUE_GRIDS):
        idx = np.abs(values[:, k, None] - grid[None, :]).argmin(axis=1)  # (N,)
        if np.abs(grid[idx] - values[:, k]).max(initial=0.0) > 1e-4:
            raise DataError(f"dSprites factor {FACTOR_NAMES[k]!r} has values off the grid {grid.round(4)}; "
                            "the factors do not come from dSprites")
        classes[:, k] = idx
    return classes


def dsprites_factor_classes(data: ImageData) -> np.ndarray:
    """The discrete factor classes of a dSprites :class:`ImageData` (what the metrics need).

    Args:
        data: a dataset returned by :func:`load_dsprites`.

    Returns:
        int64 array (N, 5) of classes [shape, scale, orientation, pos_x, pos_y].
    """
    if data.factors is None or tuple(data.factor_names) != FACTOR_NAMES:
        raise DataError(f"dataset {data.name!r} has no dSprites factors {FACTOR_NAMES}; load it with load_dsprites()")
    return factor_classes_from_values(data.factors.double().numpy())


def sample_factor_classes(
    rng: np.random.Generator, n: int, *, fixed_factor: int | None = None, fixed_value: int | None = None
) -> np.ndarray:
    """Draw factor classes uniformly, optionally holding one factor at one class.

    Args:
        rng: numpy random generator.
        n: number of samples.
        fixed_factor: index (0..4) of a factor to hold fixed, or None.
        fixed_value: the class that factor takes (required with ``fixed_factor``).

    Returns:
        int64 array (n, 5) of factor classes.
    """
    classes = np.stack([rng.integers(0, s, size=n) for s in FACTOR_SIZES], axis=1).astype(np.int64)
    if fixed_factor is not None:
        if not 0 <= fixed_factor < len(FACTOR_SIZES) or fixed_value is None:
            raise DataError(f"fixed_factor must be in 0..4 and come with a fixed_value, got {fixed_factor}, {fixed_value}")
        if not 0 <= fixed_value < FACTOR_SIZES[fixed_factor]:
            raise DataError(f"fixed_value {fixed_value} is outside 0..{FACTOR_SIZES[fixed_factor] - 1} "
                            f"for factor {FACTOR_NAMES[fixed_factor]!r}")
        classes[:, fixed_factor] = fixed_value
    return classes


def _inside(shape: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Implicit inside-test in unit coordinates (circumradius 1 about the centroid; b points down)."""
    if shape == 0:  # square, half-side 1/sqrt(2)
        return np.maximum(np.abs(a), np.abs(b)) <= np.float32(1 / np.sqrt(2))
    if shape == 1:  # ellipse 2:1, long axis along a
        return a * a + 4.0 * b * b <= 1.0
    x = a * _HEART_RADIUS  # heart, Y up, centroid moved to the origin
    y = _HEART_CENTROID_Y - b * _HEART_RADIUS
    r = x * x + y * y - 1.0
    return r * r * r - x * x * y * y * y <= 0.0


@lru_cache(maxsize=1)
def _templates() -> np.ndarray:
    """All 2,880 sprite patches, uint8 (3, 6, 40, 2, 2, 20, 20) {0,1}, rendered once per process."""
    s = _SUPERSAMPLE
    local = (np.arange(_PATCH * s, dtype=np.float32) + 0.5) / s  # sample coordinates inside a patch
    centre = np.array([_PATCH / 2 + p for p in _PHASES], dtype=np.float32)  # local centroid per phase
    d = local[None, :] - centre[:, None]  # (2 phases, 80)
    dx = d[None, :, None, None, :]  # (1, px, 1, 1, 80)   phase_x, sample column
    dy = d[None, None, :, :, None]  # (1, 1, py, 80, 1)   phase_y, sample row
    theta = _VALUE_GRIDS[2].astype(np.float32)
    cos = np.cos(theta)[:, None, None, None, None]  # (40, 1, 1, 1, 1)
    sin = np.sin(theta)[:, None, None, None, None]
    out = np.empty((3, 6, 40, 2, 2, _PATCH, _PATCH), dtype=np.uint8)
    for k, scale in enumerate(_VALUE_GRIDS[1]):
        inv = np.float32(1.0 / (RADIUS_PX * scale))
        a = (cos * dx - sin * dy) * inv  # (40, px, py, 80, 80) inverse rotation, y down
        b = (sin * dx + cos * dy) * inv
        for shape in range(3):
            hit = _inside(shape, a, b).reshape(40, 2, 2, _PATCH, s, _PATCH, s)
            out[shape, k] = hit.mean(axis=(4, 6), dtype=np.float32) >= 0.5  # (40, px, py, 20, 20)
    return out


def render_dsprites(factor_classes: np.ndarray, *, chunk_size: int = 8192) -> np.ndarray:
    """Render sprites for the given factor classes.

    Args:
        factor_classes: int array (N, 5) [shape, scale, orientation, pos_x, pos_y].
        chunk_size: images placed per vectorised step (bounds the temporary memory).

    Returns:
        uint8 array (N, 64, 64) with values {0, 1} (DeepMind's convention; ImageData stores 0/255).
    """
    classes = _check_classes(factor_classes)
    templates = _templates().reshape(-1, _PATCH, _PATCH)  # (2880, 20, 20)
    n = classes.shape[0]
    out = np.empty((n, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    side = IMAGE_SIZE + 2 * _PAD
    patch = np.arange(_PATCH)
    for start in range(0, n, chunk_size):
        c = classes[start : start + chunk_size]
        b = c.shape[0]
        tid = (((c[:, 0] * 6 + c[:, 1]) * 40 + c[:, 2]) * 2 + c[:, 3] % 2) * 2 + c[:, 4] % 2  # (B,)
        col0 = np.floor(POS_FIRST_PX + POS_STEP_PX * c[:, 3]).astype(np.int64) - _PATCH // 2 + _PAD
        row0 = np.floor(POS_FIRST_PX + POS_STEP_PX * c[:, 4]).astype(np.int64) - _PATCH // 2 + _PAD
        flat = (np.arange(b) * side * side + row0 * side + col0)[:, None, None]  # (B, 1, 1)
        flat = flat + patch[None, :, None] * side + patch[None, None, :]  # (B, 20, 20)
        canvas = np.zeros((b, side, side), dtype=np.uint8)  # (B, 68, 68)
        canvas.reshape(-1)[flat] = templates[tid]
        out[start : start + b] = canvas[:, _PAD : _PAD + IMAGE_SIZE, _PAD : _PAD + IMAGE_SIZE]
    return out


def _to_image_data(binary: np.ndarray, classes: np.ndarray, values: np.ndarray | None = None) -> ImageData:
    """Wrap {0,1} images (N, 64, 64) as ImageData with 0/255 pixels (scaled in place)."""
    np.multiply(binary, 255, out=binary)
    values = factor_values(classes) if values is None else values
    return ImageData(
        images=torch.from_numpy(binary).unsqueeze(1),  # (N, 1, 64, 64)
        labels=torch.from_numpy(classes[:, 0].astype(np.int64)),
        factors=torch.from_numpy(values.astype(np.float32)),
        factor_names=FACTOR_NAMES,
        name="dsprites",
    )


def _read_deepmind_npz(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read DeepMind's npz: ({0,1} images (N,64,64), classes (N,5), values (N,5)), colour column dropped."""
    if not path.is_file():
        raise DataError(f"dSprites file {path} does not exist; download {DEEPMIND_FILE} or drop npz_path "
                        "to render the set")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = {"imgs", "latents_values", "latents_classes"} - set(npz.files)
            if missing:
                raise DataError(f"{path} lacks the keys {sorted(missing)}; it is not DeepMind's {DEEPMIND_FILE}")
            imgs, values, classes = npz["imgs"], npz["latents_values"], npz["latents_classes"]
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path} as an npz without pickles ({exc}); re-download {DEEPMIND_FILE}") from exc
    n = imgs.shape[0] if imgs.ndim else 0
    if imgs.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE) or values.shape != (n, 6) or classes.shape != (n, 6):
        raise DataError(f"{path}: expected imgs (N, 64, 64) and latents (N, 6), got {imgs.shape}, "
                        f"{values.shape}, {classes.shape}; re-download {DEEPMIND_FILE}")
    if imgs.size and imgs.max() > 1:
        raise DataError(f"{path}: imgs must be binary 0/1, found values up to {imgs.max()}")
    classes = _check_classes(classes[:, 1:].astype(np.int64))
    return imgs.astype(np.uint8, copy=False), classes, values[:, 1:].astype(np.float64)


def _load_full_cache(folder: Path) -> np.ndarray:
    """The full {0,1} set (737280, 64, 64), from the packed-bit cache or rendered and cached."""
    path = folder / CACHE_FILE
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as npz:
                version, packed = int(npz["version"]), npz["packed"]
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(f"dSprites cache {path} is corrupt ({exc}); delete it to re-render") from exc
        if version == RENDER_VERSION:
            if packed.shape != (NUM_IMAGES, IMAGE_SIZE, IMAGE_SIZE // 8):
                raise DataError(f"dSprites cache {path} has shape {packed.shape}; delete it to re-render")
            return np.unpackbits(packed, axis=-1)  # (N, 64, 64)
    images = render_dsprites(all_factor_classes())
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{CACHE_FILE}.tmp-{os.getpid()}"
    try:  # write then rename, so a crash never leaves a half-written cache behind
        with open(tmp, "wb") as f:
            np.savez_compressed(f, version=np.int64(RENDER_VERSION), packed=np.packbits(images, axis=-1))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return images


def load_dsprites(
    data_dir: str | os.PathLike | None = None,
    *,
    subset: int | None = None,
    seed: int = 0,
    npz_path: str | os.PathLike | None = None,
) -> ImageData:
    """Load dSprites as :class:`ImageData`.

    The full set is rendered once and cached in ``default_data_dir(data_dir)/dsprites/``; ``subset``
    renders only a random subset (no cache). ``npz_path`` reads DeepMind's original file instead.

    Args:
        data_dir: cache root (see :func:`infogan.data.base.default_data_dir`).
        subset: if given, this many images drawn without replacement (sorted, canonical order).
        seed: seed of the subset draw.
        npz_path: path of DeepMind's ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz``.

    Returns:
        ImageData named "dsprites": images uint8 (N, 1, 64, 64) with values 0/255, labels = shape class
        (0 square, 1 ellipse, 2 heart), factors float32 (N, 5) = factor values, factor_names
        ("shape", "scale", "orientation", "pos_x", "pos_y"). Use :func:`dsprites_factor_classes` for
        the discrete classes.
    """
    total = NUM_IMAGES
    if npz_path is not None:
        imgs, classes, values = _read_deepmind_npz(Path(npz_path))
        total = imgs.shape[0]
    if subset is not None and not 0 < subset <= total:
        raise DataError(f"subset must be in 1..{total}, got {subset}")
    pick = None if subset is None else np.sort(np.random.default_rng(seed).choice(total, subset, replace=False))
    if npz_path is not None:
        if pick is not None:
            imgs, classes, values = imgs[pick], classes[pick], values[pick]
        return _to_image_data(np.ascontiguousarray(imgs), classes, values)
    if pick is not None:
        classes = all_factor_classes()[pick]
        return _to_image_data(render_dsprites(classes), classes)
    images = _load_full_cache(default_data_dir(data_dir) / "dsprites")
    return _to_image_data(images, all_factor_classes())
