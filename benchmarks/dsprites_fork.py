"""Fork a dSprites run at its newest resume state and train on: does a lower learning rate, or an average of
G's weights, draw better shapes than the run itself?

    python benchmarks/dsprites_fork.py RUN [--steps 6000] [--eval-every 1000] [--samples 2000]
        [--lr-scale 1.0] [--ema 0.999 [0.9999 ...]] [--snapshot FILE] [--out FILE]

RUN's ``config.json`` and newest resume state are copied into a temporary folder (RUN is only read), and a
trainer is built from the copy: the same weights, optimiser moments and random streams, so that with
``--lr-scale 1`` the fork retraces RUN's own next iterations. Both learning rates are multiplied by
``--lr-scale``, and for each ``--ema`` decay an exponential moving average of G's weights is kept after every
iteration (its batch-norm statistics copied from the live G). Every ``--eval-every`` iterations, and at the
fork, the shape score (``shape_dspritesnet`` on ``--samples`` samples, seed 0) of the live G and of each
average. ``--snapshot FILE`` also writes the live networks' inference snapshot at the end (for ``infogan eval``;
its config is RUN's, learning rates unscaled).
Writes JSON (default benchmarks/results/dsprites_fork-<date>.json).
"""

from __future__ import annotations

import argparse
import copy
import shutil
import tempfile
import time
from pathlib import Path

import torch

from common import machine_info, write_result
from infogan.metrics.shape_score import shape_score_for_model
from infogan.snapshot import save_snapshot
from infogan.training import Trainer
from infogan.training.rundir import read_run_config
from infogan.training.session import load_training_data
from infogan.training.state import STATE_NAME, latest_state


def fork_trainer(run: Path, folder: Path) -> Trainer:
    """A trainer in ``folder`` resumed from a copy of ``run``'s config and newest complete resume state."""
    path, state, _ = latest_state(run) if (run / "config.json").is_file() else (None, None, None)
    if state is None:
        raise SystemExit(f"{run} is not a run folder with a complete resume state to fork from: give the folder "
                         f"of an `infogan train` run (it writes one at every snapshot)")
    shutil.copy(run / "config.json", folder / "config.json")
    shutil.copy(path, folder / STATE_NAME)
    config = read_run_config(folder)
    return Trainer(config, folder, load_training_data(config), resume=True, progress=False)


def shape(model, samples: int) -> dict:
    """The shape score's headline numbers for ``model``'s G on ``samples`` samples (fixed seed)."""
    r = shape_score_for_model(model, num_samples=samples)
    return {"score": round(r["score"], 4), "confident_share": round(r["confident_share"], 4), "counts": r["counts"]}


def update_averages(live: torch.nn.Module, averages: dict[float, torch.nn.Module]) -> None:
    """One step of each moving average of ``live``'s weights; batch-norm statistics copied."""
    params = dict(live.named_parameters())
    buffers = dict(live.named_buffers())
    with torch.no_grad():
        for decay, avg in averages.items():
            for name, p in avg.named_parameters():
                p.lerp_(params[name].float(), 1.0 - decay)
            for name, b in avg.named_buffers():
                b.copy_(buffers[name])


def fork(run: Path, *, steps: int, eval_every: int, samples: int, lr_scale: float = 1.0,
         ema: tuple[float, ...] | list[float] = (), snapshot: Path | None = None) -> dict:
    """Fork ``run`` at its newest resume state and train ``steps`` more iterations (see the module docstring).

    Returns:
        The benchmark's result: the fork step, the settings and ``curve``, one row per evaluation.
    """
    if not lr_scale > 0 or not all(0 < d < 1 for d in ema):
        raise SystemExit("--lr-scale must be positive and every --ema decay in (0, 1)")
    if snapshot is not None and snapshot.exists():
        raise SystemExit(f"{snapshot} exists; give a new file for --snapshot (nothing is overwritten)")
    with tempfile.TemporaryDirectory(prefix="infogan-fork-") as tmp:
        trainer = fork_trainer(run, Path(tmp))
        for opt in (trainer.opt_d, trainer.opt_g):
            for group in opt.param_groups:
                group["lr"] *= lr_scale
        averages = {d: copy.deepcopy(trainer.model) for d in ema}  # whole models, G's weights averaged
        start, rows, t0 = trainer.step, [], time.perf_counter()

        def record(done: int) -> None:
            row = {"step": trainer.step, "since_fork": done, "live": shape(trainer.model, samples)}
            row |= {f"ema_{d}": shape(m, samples) for d, m in averages.items()}
            trainer.model.train()  # generate() left it in eval mode
            rows.append(row)
            print(row, flush=True)

        record(0)
        for done in range(1, steps + 1):
            trainer.train_step()
            trainer.step += 1
            update_averages(trainer.model.G, {d: m.G for d, m in averages.items()})
            if done % eval_every == 0 or done == steps:
                record(done)
        seconds = time.perf_counter() - t0
        if snapshot is not None:
            save_snapshot(trainer.model, snapshot, config=trainer.config, step=trainer.step)
    return {"run": str(run), "fork_step": start, "steps": steps, "lr_scale": lr_scale, "ema": list(ema),
            "snapshot": None if snapshot is None else str(snapshot), "samples": samples,
            "seconds": round(seconds, 1), "curve": rows, "machine": machine_info(torch.device("cpu"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a dsprites run folder with a resume state")
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--eval-every", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--lr-scale", type=float, default=1.0, help="multiply both learning rates by this")
    parser.add_argument("--ema", type=float, nargs="*", default=[0.999], help="decays of G's weight averages")
    parser.add_argument("--snapshot", type=Path, default=None, help="write the fork's last snapshot here")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    result = fork(args.run, steps=args.steps, eval_every=args.eval_every, samples=args.samples,
                  lr_scale=args.lr_scale, ema=args.ema, snapshot=args.snapshot)
    print(write_result("dsprites_fork", result, args.out))


if __name__ == "__main__":
    main()
