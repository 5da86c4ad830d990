"""Library-level workflows used by the CLI and by users: train a run, evaluate it, write sample and
traversal sheets. Each takes run folders or configs and returns paths or plain results."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import torch

from infogan import snapshot
from infogan.config import RunConfig
from infogan.errors import ConfigError
from infogan.training import TrainResult
from infogan.training.session import load_training_data, train_run

__all__ = ["evaluate_run", "finish_run", "format_results", "load_training_data", "train", "write_samples",
           "write_traversals"]


END_OF_RUN_METRICS = ("code_acc", "info", "fid", "shape")  # fid: with the shipped digit features only


def train(config: RunConfig | None = None, *, outdir: str | os.PathLike = "runs", name: str | None = None,
          resume: str | os.PathLike | None = None, progress: bool = True, iterations: int | None = None,
          data=None, engine=None, dist_backend: str = "auto") -> TrainResult:
    """Train a new run (``config``) in a new numbered folder under ``outdir``, or continue ``resume``.

    Args:
        config: the run config (e.g. ``get_preset("mnist")``); ignored when resuming.
        outdir: parent of the run folders.
        name: run folder suffix.
        resume: a run folder to continue from its last resume state.
        progress: show a progress bar.
        iterations: when resuming, a new total number of iterations (extends a finished run).
        data: an ImageData to train on instead of loading ``config.data``.
        engine: execution choices (device, DDP); built from the config when None.
        dist_backend: under torchrun, "auto" (NCCL on GPUs, gloo on CPUs), "gloo" or "nccl".
    Returns:
        A :class:`TrainResult` with the run folder and the final step.
    """
    return train_run(config, outdir=outdir, name=name, resume=resume, progress=progress, iterations=iterations,
                     data=data, engine=engine, dist_backend=dist_backend)


def evaluate_run(run: str | os.PathLike, names: list[str] | None = None, *, dataset: str | None = None,
                 data_dir=None, **options) -> dict[str, dict]:
    """Load a run's snapshot and compute metrics, appending to its metric files.

    The default (``names`` None) is what ``infogan train`` evaluates at the end of a run: the code accuracy
    where the data are labelled, L_I per code, and the sample quality where the project ships the features
    (FID on MNIST, the shape score on dSprites; docs/metrics.md gives their cost).
    """
    from infogan.metrics import METRICS, evaluate
    from infogan.metrics.sample_quality_eval import DIGIT_DATASETS

    model = snapshot.load(run)
    dataset = dataset or model.run_config.data.dataset
    names = names or [n for n in END_OF_RUN_METRICS if METRICS[n].applies(dataset) and
                      (n != "fid" or dataset.split(":")[0] in DIGIT_DATASETS)]
    run_dir = Path(run) if Path(run).is_dir() else None
    return evaluate(model, names, dataset=dataset, data_dir=data_dir, run_dir=run_dir, **options)


def format_results(results: dict[str, dict]) -> str:
    """A small text table of metric results."""
    lines = []
    for protocol, r in results.items():
        if "accuracy" in r:
            lines.append(f"{protocol}: accuracy {100 * r['accuracy']:.2f}%  NMI {r['nmi']:.4f}  ARI {r['ari']:.4f}"
                         f"  (code {r['code']}, {r['num_images']} images, usage entropy {r['usage_entropy']:.3f})")
        elif "ceiling" in r:
            lines.append(f"{protocol}: L_I per code, nats (what Q recovers: share of categories / R^2 of Q's mean)")
            lines += ["  " + describe_bound(code, r) for code in r["ceiling"]]
        elif "fid" in r:
            lines.append(f"{protocol}: FID {r['fid']:.3f}  (real-vs-real floor {r['floor']:.3f}; {r['num_samples']} "
                         f"samples vs {r['num_real']} test images, {r['features']} features)")
        elif "kid" in r:
            lines.append(f"{protocol}: KID {r['kid']:.5f} +- {r['kid_std']:.5f}  (floor {r['floor']:.5f} +- "
                         f"{r['floor_std']:.5f}; {r['subsets']} subsets of {r['subset_size']}, "
                         f"{r['features']} features)")
        elif "precision" in r and "recall" in r:
            lines.append(f"{protocol}: precision {r['precision']:.4f}  recall {r['recall']:.4f}  (floor "
                         f"{r['floor_precision']:.4f} / {r['floor_recall']:.4f}; k={r['k']}, {r['features']} features)")
        elif "purity" in r:
            lines.append(f"{protocol}: purity {r['purity']:.4f}  NMI {r['nmi']:.4f}  digits covered "
                         f"{r['digits_covered']}/{len(r['per_category'])}  entropy {r['mean_entropy']:.3f} nats  "
                         f"(code {r['code']}, {r['per_category_samples']} per category; test digits by label: "
                         f"purity {r['real_purity']:.4f}, NMI {r['real_nmi']:.4f})")
        else:
            scalars = {k: v for k, v in r.items() if isinstance(v, (int, float)) and k not in ("step", "seconds")}
            lines.append(f"{protocol}: " + "  ".join(f"{k} {v:.4g}" for k, v in scalars.items()))
    return "\n".join(lines)


def describe_bound(code: str, result: dict) -> str:
    """One code's L_I in plain words, e.g. ``c2 -0.239 nats (best possible -0.226 with Q's std fixed; R^2
    0.993)`` or ``c1 2.291 of ln K = 2.303 nats (99.1% of categories recovered)``."""
    value, ceiling = result[code], result["ceiling"][code]
    kind, recovered = result.get("kind", {}).get(code), result.get("recovered", {}).get(code)
    if kind is None:  # a result written before these figures existed
        return f"{code} {value:.3f} nats (ceiling H(c) {ceiling:.3f})"
    if kind == "categorical":
        return f"{code} {value:.3f} of ln K = {ceiling:.3f} nats ({100 * recovered:.1f}% of categories recovered)"
    if result["best"][code] is not None:
        return f"{code} {value:.3f} nats (best possible {result['best'][code]:.3f} with Q's std fixed; R^2 {recovered:.3f})"
    return f"{code} {value:.3f} nats (H(c) = {ceiling:.3f}; Q's std learned, so not capped; R^2 {recovered:.3f})"


def write_samples(run: str | os.PathLike, *, out: str | os.PathLike | None = None, n: int = 100, seed: int = 0,
                  scale: int = 2) -> Path:
    """A PNG grid of samples from a run's snapshot (rows = categories of the first categorical code)."""
    from infogan.inference.viz import sample_sheet, save_grid

    model = snapshot.load(run)
    latent = model.spec.sample(n, generator=torch.Generator().manual_seed(seed))
    root = None if out else _default_folder(run, "")  # inside the run folder: no write through its links
    out = Path(out) if out else _default_folder(run, "samples") / f"sample-seed{seed}.png"
    return save_grid(sample_sheet(model, latent), out, scale=scale, root=root)


def write_traversals(run: str | os.PathLike, *, outdir: str | os.PathLike | None = None,
                     codes: list[str] | None = None, span: float = 2.0, steps: int = 10, seed: int = 0,
                     scale: int = 2, gif: bool = False, frames: int = 24) -> list[Path]:
    """One Figure 2 traversal sheet per code (``traverse-c2.png``, ...), and with ``gif`` an animated sweep of
    each continuous code (``traverse-c2.gif``, ``frames`` values there and back); returns the paths written."""
    from infogan.inference.viz import (
        save_gif,
        save_grid,
        traversal_frames,
        traversal_sheet,
    )
    from infogan.latent.spec import Continuous

    model = snapshot.load(run)
    names = model.spec.code_names()
    wanted = codes or names
    unknown = [c for c in wanted if c not in names]
    if unknown:
        raise ConfigError(f"unknown code(s) {unknown}; this model has {', '.join(names)}")
    folder = Path(outdir) if outdir else _default_folder(run, "traversals")
    root = None if outdir else _default_folder(run, "")  # inside the run folder: no write through its links
    paths = []
    for c in wanted:
        index = names.index(c)
        paths.append(save_grid(traversal_sheet(model, index, steps=steps, span=span, seed=seed),
                               folder / f"traverse-{c}.png", scale=scale, root=root))
        if gif and isinstance(model.spec.codes[index], Continuous):
            paths.append(save_gif(traversal_frames(model, index, frames=frames, span=span, seed=seed),
                                  folder / f"traverse-{c}.gif", scale=scale, root=root))
    return paths


def finish_run(run_dir: str | os.PathLike, *, echo: Callable[[str], None] = print) -> dict:
    """After training: evaluate what applies, write traversal sheets, and print both.

    A missing evaluation split (e.g. a test set that cannot be downloaded here) does not fail a finished
    training: it is reported and the traversal sheets are still written.
    """
    from infogan.errors import DataError

    try:
        results = evaluate_run(run_dir)
        echo(format_results(results))
    except DataError as exc:
        results = {}
        echo(f"evaluation skipped: {exc}")
    for path in write_traversals(run_dir):
        echo(f"traversal sheet: {path}")
    return results


def _default_folder(run: str | os.PathLike, name: str) -> Path:
    """``name`` inside the run folder (the snapshot's folder when ``run`` is a snapshot file)."""
    run = Path(run)
    return (run if run.is_dir() else run.parent) / name if name else (run if run.is_dir() else run.parent)
