"""The one way a run is started: :func:`train_run`, used by ``infogan.train``, ``infogan train`` and
``infogan reproduce`` alike.

It decides the run folder (a new numbered one, a named one, or the one being resumed), loads the data
(rank 0 first under torchrun), holds the run folder's lock for the whole training, removes the leftovers
of writes cut by a crash, and leaves the process group it joined, however training ends. A resume checks
that the state is the run's own and that the run folder holds no links; a start that fails before its first
resume state removes the folder it created.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from infogan.config import RunConfig
from infogan.errors import ConfigError
from infogan.runtime.engine import Engine
from infogan.storage import atomic_write_text, remove_temporary_files
from infogan.training import state as resume_state
from infogan.training.loop import Trainer, TrainResult
from infogan.training.rundir import (
    CONFIG_NAME,
    STATS_NAME,
    SUBFOLDERS,
    check_run_files,
    create_run_dir,
    lock_run,
    read_run_config,
    remove_unstarted,
)


def load_training_data(config: RunConfig):
    """The training split named by ``config.data``, sized for the model (``subset``: N images only)."""
    from infogan.data import load_dataset

    c, h, _ = config.model.image_shape
    return load_dataset(config.data.dataset, split="train", data_dir=config.data.data_dir, image_size=h,
                        channels=c, subset=config.data.subset or None)


def resumed_config(run_dir: str | os.PathLike, iterations: int | None = None) -> RunConfig:
    """The config a resume of ``run_dir`` trains with: its newest complete state's (else its config.json),
    with a new total of ``iterations`` when given.

    Raises:
        CheckpointError: the state belongs to another run (its config differs from config.json).
        ConfigError: ``iterations`` is below the step the run has reached.
    """
    config = read_run_config(run_dir)
    path, state, _ = resume_state.latest_state(run_dir)  # newest complete state; None before the first one
    if state is not None:
        config = resume_state.own_config(state, run_dir, path)
        if iterations is not None and iterations < state.step:
            raise ConfigError(f"--iterations {iterations} is below step {state.step}, which {run_dir} has reached; "
                              f"give a total of at least {state.step} to extend the run")
    return config.replace(train={"iterations": iterations}) if iterations is not None else config


def train_run(config: RunConfig | None = None, *, outdir: str | os.PathLike = "runs", name: str | None = None,
              run_dir: str | os.PathLike | None = None, resume: str | os.PathLike | None = None,
              progress: bool = True, iterations: int | None = None, data=None, engine: Engine | None = None,
              dist_backend: str = "auto") -> TrainResult:
    """Train ``config`` in a new run folder, or continue ``resume``.

    Args:
        config: the run config; ignored when resuming.
        outdir: parent of the numbered run folders (``runs/00007-mnist-seed0``).
        name: run folder suffix (default ``<preset>-seed<seed>``).
        run_dir: train in this folder instead of a numbered one (fixed names, as ``infogan reproduce``
            uses): created with its ``config.json`` when missing; an existing one must hold ``config`` and
            no resume state yet, and then starts again from step 0.
        resume: a run folder to continue from its newest complete resume state.
        progress: show a progress bar.
        iterations: when resuming, a new total number of iterations (extends a finished run).
        data: an ImageData to train on instead of loading ``config.data``.
        engine: execution choices (device, DDP); built from the config when None (and then closed here).
        dist_backend: under torchrun, "auto" (NCCL on GPUs, gloo on CPUs), "gloo" or "nccl".
    Returns:
        A :class:`TrainResult` with the run folder and the final step.
    """
    if resume is not None:
        config = resumed_config(resume, iterations)
    elif config is None:
        raise ConfigError("train() needs a config (e.g. infogan.get_preset('mnist')) or resume=RUN")
    own_engine = engine is None  # under torchrun: joins the process group here and leaves it at the end
    engine = engine or Engine.from_config(config.train, dist_backend=dist_backend)
    made = None  # a folder this call created: removed again if the start fails before its first state
    try:
        if data is None:  # rank 0 first: a first download fills the cache the other processes then read
            data = engine.main_first(lambda: load_training_data(config))
        if resume is not None:
            folder = Path(resume)
        elif run_dir is not None:
            folder, new = engine.main_first(lambda: _named_run_dir(Path(run_dir), config), share=True)
            made = folder if new else None
        else:
            folder = made = engine.create_run_dir(lambda: create_run_dir(outdir, config, desc=name))
        # one writer per run folder: a second process on the same run fails here, before writing anything
        with lock_run(folder) if engine.is_main else contextlib.nullcontext():
            if engine.is_main and made is None:  # a folder from before: no links; leftovers of cut writes
                check_run_files(folder)
                for sub in (folder, *(folder / name for name in SUBFOLDERS)):
                    remove_temporary_files(sub, root=folder)
            trainer = Trainer(config, folder, data, resume=resume is not None, progress=progress, engine=engine)
            if resume is not None and engine.is_main:
                print(f"resuming {folder} from step {trainer.step} ({trainer.resume_note})")
            return trainer.run()
    except BaseException:
        if made is not None and engine.is_main:
            remove_unstarted(made, has_state=any(os.path.lexists(Path(made) / name) for name in
                                                 (resume_state.STATE_NAME, resume_state.PREVIOUS_STATE_NAME)))
        raise
    finally:
        if own_engine:
            engine.close()


def _named_run_dir(folder: Path, config: RunConfig) -> tuple[Path, bool]:
    """A fixed-name run folder for a fresh start: made with its config, or emptied of stats when it holds
    the same config but stopped before its first resume state (its stats lines would repeat). Returns the
    folder and whether it was made here."""
    if not folder.exists():
        folder.mkdir(parents=True)
        atomic_write_text(folder / CONFIG_NAME, config.to_json())
        return folder, True
    check_run_files(folder)
    if os.path.lexists(folder / resume_state.STATE_NAME):
        raise ConfigError(f"{folder} already holds a resume state: continue it with resume={str(folder)!r} "
                          "instead of starting it again")
    atomic_write_text(folder / STATS_NAME, "")
    return folder, False
