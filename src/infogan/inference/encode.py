"""Q as an unsupervised encoder: image files, folders or a dataset split -> a table of code posteriors.

Inputs are taken in order. An existing file is decoded whatever its extension; an existing folder is
scanned recursively for png, jpg, jpeg, bmp, gif and webp files (other files are ignored); anything else
of the form ``NAME[:SPLIT]`` with NAME a dataset of :mod:`infogan.data` (e.g. ``mnist:test``; the split
defaults to ``test``) is loaded as that dataset. Image files are converted to the model's channels
(greyscale "L" or "RGB", alpha dropped, first GIF frame) and resized to its size with Lanczos filtering,
stretching non-square images (``crop="center"`` takes the centred square first): exactly what the
``imagefolder`` dataset does for training. Files that cannot be decoded are reported and skipped.

Each row of the table holds ``file`` (the path, or ``mnist:test#17`` for a dataset image), ``label`` when a
dataset has labels, then per categorical code ``cK`` (the most probable category) and ``cK_prob`` (its
probability), and per continuous code ``cK_mean`` and ``cK_std`` (Q's Gaussian posterior).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from infogan.errors import ConfigError, DataError
from infogan.latent.spec import Categorical
from infogan.latent.syntax import format_latent
from infogan.models import InfoGAN

TABLE_FORMATS = ("csv", "jsonl")
DEFAULT_SPLIT = "test"


@dataclass
class Source:
    """One resolved input: image files, or a dataset split held in memory."""

    name: str
    files: list[Path] = field(default_factory=list)
    images: torch.Tensor | None = None  # uint8 (N, C, H, W) for a dataset
    labels: torch.Tensor | None = None


@dataclass(frozen=True)
class EncodeSummary:
    """Counts of one :func:`encode_inputs` call.

    Attributes:
        encoded: images written to the table.
        skipped: (file, reason) of every input that could not be read.
        clusters: category -> number of images, for the clustering code (empty without ``cluster_dir``).
    """

    encoded: int
    skipped: list[tuple[str, str]]
    clusters: dict[int, int]


def resolve_inputs(inputs: list[str], shape: tuple[int, int, int], *, data_dir=None) -> list[Source]:
    """Turn command-line inputs into :class:`Source` objects (see the module docstring for the rules).

    Raises:
        DataError: an input is neither an existing path nor a dataset name, or a dataset's image shape
            differs from the model's.
    """
    from infogan.data import DATASETS, load_dataset
    from infogan.data.imagefolder import scan_images

    sources = []
    for text in inputs:
        path = Path(text).expanduser()
        if path.is_file():
            sources.append(Source(text, files=[path]))
        elif path.is_dir():
            sources.append(Source(text, files=scan_images(path)))
        else:
            name, _, split = text.partition(":")
            if name not in DATASETS:
                raise DataError(f"{text!r} is not an existing file or folder, nor a dataset "
                                f"({', '.join(DATASETS)}, optionally with :train or :test); check the path")
            c, h, _ = shape
            sized = {} if name in ("mnist", "fashion-mnist", "svhn", "dsprites") else {"image_size": h, "channels": c}
            data = load_dataset(name, split=split or DEFAULT_SPLIT, data_dir=data_dir, **sized)
            if tuple(data.images.shape[1:]) != tuple(shape):
                raise DataError(f"dataset {name} has images of shape {tuple(data.images.shape[1:])} but the model "
                                f"expects {tuple(shape)}; encode image files instead (they are resized)")
            sources.append(Source(f"{name}:{split or DEFAULT_SPLIT}", images=data.images, labels=data.labels))
    return sources


def iter_batches(sources: list[Source], shape: tuple[int, int, int], *, batch_size: int = 256,
                 crop: str | None = None, on_skip: Callable[[str, str], None] = lambda f, r: None,
                 ) -> Iterator[tuple[list[str], torch.Tensor, list[int | None], list[Path | None]]]:
    """Yield (names, uint8 images (b, C, H, W), labels, source paths) in input order, skipping unreadable files."""
    from infogan.data.imagefolder import decode_image

    c, h, w = shape
    if h != w:
        raise ConfigError(f"encoding files needs a square model image, got {h}x{w}")
    for source in sources:
        if source.images is not None:
            labels = source.labels.tolist() if source.labels is not None else [None] * len(source.images)
            for start in range(0, len(source.images), batch_size):
                stop = min(start + batch_size, len(source.images))
                names = [f"{source.name}#{i}" for i in range(start, stop)]
                yield names, source.images[start:stop], labels[start:stop], [None] * (stop - start)
            continue
        for start in range(0, len(source.files), batch_size):
            names, arrays, paths = [], [], []
            for path in source.files[start:start + batch_size]:
                pixels = decode_image(path, size=h, channels=c, crop=crop)  # (H, W, C) or None
                if pixels is None:
                    on_skip(str(path), "not a readable image")
                    continue
                names.append(str(path))
                arrays.append(pixels.transpose(2, 0, 1))  # (C, H, W)
                paths.append(path)
            if arrays:
                yield names, torch.from_numpy(np.stack(arrays)), [None] * len(names), paths


def posterior_rows(model: InfoGAN, images: torch.Tensor) -> list[dict]:
    """Q's posterior for uint8 images as table rows (without the ``file``/``label`` columns)."""
    from infogan.inference.generate import encode

    post = encode(model, images)
    probs, means, stds = iter(post["probs"]), iter(post["means"]), iter(post["stds"])
    columns: dict[str, list] = {}
    for name, code in zip(model.spec.code_names(), model.spec.codes):
        if isinstance(code, Categorical):
            p, category = next(probs).max(dim=1)  # (B,), (B,)
            columns[name], columns[f"{name}_prob"] = category.tolist(), _rounded(p)
        else:
            columns[f"{name}_mean"], columns[f"{name}_std"] = _rounded(next(means)), _rounded(next(stds))
    n = images.shape[0]
    return [{key: values[i] for key, values in columns.items()} for i in range(n)]


def table_columns(model: InfoGAN, *, with_label: bool) -> list[str]:
    """Column names of the table, in order."""
    cols = ["file"] + (["label"] if with_label else [])
    for name, code in zip(model.spec.code_names(), model.spec.codes):
        cols += [name, f"{name}_prob"] if isinstance(code, Categorical) else [f"{name}_mean", f"{name}_std"]
    return cols


def encode_inputs(model: InfoGAN, inputs: list[str], out: io.TextIOBase, *, fmt: str = "csv",
                  cluster_dir: str | os.PathLike | None = None, cluster_code: str | None = None,
                  link: bool = False, crop: str | None = None, batch_size: int = 256, data_dir=None,
                  on_skip: Callable[[str, str], None] = lambda f, r: None) -> EncodeSummary:
    """Encode every input image and write one table row each to ``out``.

    Args:
        model: the networks.
        inputs: files, folders and dataset specs (module docstring).
        out: text stream the CSV or JSON-lines table is written to.
        fmt: "csv" or "jsonl".
        cluster_dir: if given, a new (or empty) folder receiving one subfolder per predicted category,
            ``<code>_<category>``, with a copy of each image file (a PNG for dataset images).
        cluster_code: the categorical code that picks the subfolder (default: the first one).
        link: symlink files into ``cluster_dir`` instead of copying them.
        crop: None (stretch to the model's square) or "center".
        batch_size: images per Q call.
        data_dir: dataset cache root.
        on_skip: called with (file, reason) for every unreadable file.
    Returns:
        An :class:`EncodeSummary`.
    """
    if fmt not in TABLE_FORMATS:
        raise ConfigError(f"unknown table format {fmt!r}; choose csv or jsonl")
    if crop not in (None, "center"):
        raise ConfigError(f"crop must be 'center' or none, got {crop!r}")
    shape = tuple(model.config.image_shape)
    cluster_index = _cluster_index(model, cluster_code) if cluster_dir is not None else None
    if cluster_dir is not None:
        cluster_dir = Path(cluster_dir)
        if cluster_dir.exists() and (not cluster_dir.is_dir() or any(cluster_dir.iterdir())):
            raise ConfigError(f"--cluster-dir {cluster_dir} exists and is not an empty folder; choose a new one "
                              "(images are never overwritten)")
    sources = resolve_inputs(inputs, shape, data_dir=data_dir)
    with_label = any(s.labels is not None for s in sources)
    columns = table_columns(model, with_label=with_label)
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n") if fmt == "csv" else None
    if writer:
        writer.writeheader()
    skipped: list[tuple[str, str]] = []

    def skip(file: str, reason: str) -> None:
        skipped.append((file, reason))
        on_skip(file, reason)

    encoded, clusters, used = 0, {}, set()
    for names, images, labels, paths in iter_batches(sources, shape, batch_size=batch_size, crop=crop,
                                                     on_skip=skip):
        for i, row in enumerate(posterior_rows(model, images)):
            row = {"file": names[i], **({"label": labels[i]} if with_label else {}), **row}
            if writer:
                writer.writerow(row)
            else:
                out.write(json.dumps(row) + "\n")
            if cluster_index is not None:
                category = row[model.spec.code_names()[cluster_index]]
                clusters[category] = clusters.get(category, 0) + 1
                _place(cluster_dir / f"{model.spec.code_names()[cluster_index]}_{category}", names[i], paths[i],
                       images[i], link=link, used=used)
        encoded += len(names)
    if encoded == 0:
        raise DataError(f"no readable image among the inputs {inputs} ({len(skipped)} skipped); give image "
                        "files, folders of images or a dataset such as mnist:test")
    return EncodeSummary(encoded, skipped, dict(sorted(clusters.items())))


def _cluster_index(model: InfoGAN, cluster_code: str | None) -> int:
    spec = model.spec
    if not spec.categorical_indices:
        raise ConfigError("--cluster-dir needs a categorical code; this model has none "
                          f"({format_latent(spec)})")
    if cluster_code is None:
        return spec.categorical_indices[0]
    names = spec.code_names()
    if cluster_code not in names or names.index(cluster_code) not in spec.categorical_indices:
        cats = ", ".join(names[i] for i in spec.categorical_indices)
        raise ConfigError(f"--cluster-code {cluster_code!r} is not a categorical code; choose one of {cats}")
    return names.index(cluster_code)


def _place(folder: Path, name: str, path: Path | None, image: torch.Tensor, *, link: bool, used: set) -> None:
    """Copy, link or (for a dataset image) write one image into its category folder under a unique name."""
    folder.mkdir(parents=True, exist_ok=True)
    base = path.name if path is not None else name.replace(":", "-").replace("#", "-") + ".png"
    stem, suffix = os.path.splitext(base)
    target, n = folder / base, 1
    while target in used:  # two inputs with the same file name land in the same category
        target, n = folder / f"{stem}-{n}{suffix}", n + 1
    used.add(target)
    if path is None:
        from infogan.inference.viz import save_grid

        save_grid(image.permute(1, 2, 0).numpy(), target)  # (H, W, C) uint8 PNG
    elif link:
        os.symlink(path.resolve(), target)
    else:
        shutil.copy2(path, target)


def _rounded(t: torch.Tensor) -> list[float]:
    return [round(float(v), 6) for v in t]


# ----- command line -------------------------------------------------------------------------------------
