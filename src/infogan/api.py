"""Library-level workflows used by the CLI and by users: train a run, evaluate it, write sample and
traversal sheets. Each takes run folders or configs and returns paths or plain results."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Callable

import torch

from infogan import checkpoint
from infogan.config import RunConfig
from infogan.errors import ConfigError
from infogan.io import remove_temporary_files
from infogan.runs import create_run_dir, lock_run, read_run_config
from infogan.training import Trainer, TrainResult


def load_training_data(config: RunConfig):
    """The training split named by ``config.data``, sized for the model (``subset``: N images only)."""
    from infogan.data import load_dataset

    c, h, _ = config.model.image_shape
    return load_dataset(config.data.dataset, split="train", data_dir=config.data.data_dir, image_size=h,
                        channels=c, subset=config.data.subset or None)


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
    from infogan.engine import Engine

    if resume is not None:
        run_dir = Path(resume)
        config = read_run_config(run_dir)
        _, state, _ = checkpoint.latest_state(run_dir)  # newest complete state; None before the first one
        if state is not None:
            config = RunConfig.from_json(state["config"])
        if iterations is not None:
            config = config.replace(train={"iterations": iterations})
    elif config is None:
        raise ConfigError("train() needs a config (e.g. infogan.get_preset('mnist')) or resume=RUN")
    own_engine = engine is None  # under torchrun: joins the process group here and leaves it at the end
    engine = engine or Engine.from_config(config.train, dist_backend=dist_backend)
    try:
        if data is None:  # rank 0 first: a first download fills the cache the other processes then read
            data = engine.main_first(lambda: load_training_data(config))
        if resume is None:
            run_dir = engine.create_run_dir(lambda: create_run_dir(outdir, config, desc=name))
        # one writer per run folder: a second process on the same run fails here, before writing anything
        with lock_run(run_dir) if engine.is_main else contextlib.nullcontext():
            if resume is not None and engine.is_main:  # leftovers of writes cut by a crash
                for folder in (run_dir, run_dir / "samples"):
                    remove_temporary_files(folder)
            trainer = Trainer(config, run_dir, data, resume=resume is not None, progress=progress, engine=engine)
            if resume is not None and engine.is_main:
                print(f"resuming {run_dir} from step {trainer.step} ({trainer.resume_note})")
            return trainer.run()
    finally:
        if own_engine:
            engine.close()


def evaluate_run(run: str | os.PathLike, names: list[str] | None = None, *, dataset: str | None = None,
                 data_dir=None, **options) -> dict[str, dict]:
    """Load a run's snapshot and compute metrics (default: all that apply), appending to its metric files."""
    from infogan.metrics import default_metrics, evaluate

    model = checkpoint.load(run)
    dataset = dataset or model.run_config.data.dataset
    names = names or [n for n in default_metrics(dataset) if n in ("code_acc", "info")] or default_metrics(dataset)
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
            codes = [k for k in r["ceiling"]]
            parts = [f"{k} {r[k]:.3f}/{r['ceiling'][k]:.3f}" for k in codes]
            lines.append(f"{protocol}: L_I (nats, bound/ceiling H(c)) " + "  ".join(parts))
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


def write_samples(run: str | os.PathLike, *, out: str | os.PathLike | None = None, n: int = 100, seed: int = 0,
                  scale: int = 2) -> Path:
    """A PNG grid of samples from a run's snapshot (rows = categories of the first categorical code)."""
    from infogan.viz import sample_sheet, save_grid

    model = checkpoint.load(run)
    latent = model.spec.sample(n, generator=torch.Generator().manual_seed(seed))
    out = Path(out) if out else _default_folder(run, "samples") / f"sample-seed{seed}.png"
    return save_grid(sample_sheet(model, latent), out, scale=scale)


def write_traversals(run: str | os.PathLike, *, outdir: str | os.PathLike | None = None,
                     codes: list[str] | None = None, span: float = 2.0, steps: int = 10, seed: int = 0,
                     scale: int = 2) -> list[Path]:
    """One Figure 2 traversal sheet per code (``traverse-c2.png``, ...); returns the paths written."""
    from infogan.viz import save_grid, traversal_sheet

    model = checkpoint.load(run)
    names = model.spec.code_names()
    wanted = codes or names
    unknown = [c for c in wanted if c not in names]
    if unknown:
        raise ConfigError(f"unknown code(s) {unknown}; this model has {', '.join(names)}")
    folder = Path(outdir) if outdir else _default_folder(run, "traversals")
    return [save_grid(traversal_sheet(model, names.index(c), steps=steps, span=span, seed=seed),
                      folder / f"traverse-{c}.png", scale=scale) for c in wanted]


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
    run = Path(run)
    return (run if run.is_dir() else run.parent) / name
