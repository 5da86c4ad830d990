"""What the trainer writes and reads back: snapshots, resume states and the rollback of ``nan_policy``.

:class:`TrainerState` is the half of :class:`infogan.training.Trainer` that deals with files: the
inference snapshot and resume state (:mod:`infogan.checkpoint`), resuming from the newest complete state,
the random streams of every process, and returning to the last good state after a non-finite value.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from infogan import checkpoint
from infogan.errors import CheckpointError, TrainingError
from infogan.storage import atomic_write_text, read_jsonl
from infogan.runs import STATS_NAME

MAX_ROLLBACKS = 3  # nan_policy "rollback": give up after this many (learning rates then at 1/8)


class NonFiniteError(TrainingError):
    """A non-finite loss, gradient or weight; the message names the step and the values."""


class TrainerState:
    """Snapshots, resume and rollback of a :class:`~infogan.training.Trainer` (a mixin: it uses the
    trainer's model, optimisers, generators, engine, config and run folder)."""

    # ----- snapshots and resume ----------------------------------------------------------------------
    def save(self) -> None:
        """Write the inference snapshot, then the resume state (rank 0 only), after checking the weights.

        Raises:
            NonFiniteError: the weights are not finite (nothing is written).
        """
        self._check_weights()
        rng_ranks = self.engine.gather_object(self._rng_state())  # every process's generators, for resume
        if not self.engine.is_main:
            self.engine.barrier()
            return
        checkpoint.save_snapshot(self.model, self.run_dir / checkpoint.SNAPSHOT_NAME, config=self.config,
                                 step=self.step)
        checkpoint.save_state(self.run_dir / checkpoint.STATE_NAME, self._state_dict(rng_ranks))
        self.engine.barrier()

    def _state_dict(self, rng_ranks: list[dict] | None = None) -> dict:
        return {"step": self.step, "elapsed": self.elapsed, "config": self.config.to_json(),
                "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
                "opt_d": self.opt_d.state_dict(), "opt_g": self.opt_g.state_dict(),
                "rng": self._rng_state(), "rng_ranks": rng_ranks or [self._rng_state()],
                "world_size": self.engine.world_size, "rollbacks": self.rollbacks}

    def _rng_state(self) -> dict:
        return {"latent": self.gen_latent.get_state(), "data": self.gen_data.get_state(),
                "torch": torch.get_rng_state()}

    def _load_state(self) -> None:
        """Resume: the newest complete state (or step 0 when there is none yet), explained in resume_note."""
        path, state, problems = checkpoint.latest_state(self.run_dir)
        notes = [f"skipped {p}" for p in problems]
        snapshot = self.run_dir / checkpoint.SNAPSHOT_NAME
        snap_step = checkpoint.snapshot_step(snapshot)
        if state is None:
            notes.append("no resume state was written yet: starting again from step 0")
        else:
            self._apply_state(state, source=path)
            self.rollbacks = int(state.get("rollbacks", 0))
            notes.append(f"{path.name}")
            if snap_step is not None and snap_step > self.step:
                notes.append(f"{snapshot.name} is at step {snap_step}, newer than the newest complete state: "
                             f"the process ended between writing the two, so steps {self.step + 1}..{snap_step} "
                             "are trained again (bit-identically with --deterministic on CPU)")
            elif snap_step != self.step and self.engine.is_main:  # missing, unreadable or older: rewrite it
                checkpoint.save_snapshot(self.model, snapshot, config=self.config, step=self.step)
                was = f"at step {snap_step}" if snap_step is not None else "missing or unreadable"
                notes.append(f"{snapshot.name} was {was} and was rewritten from the state")
            if self.rollbacks:
                notes.append(f"learning rates halved by {self.rollbacks} earlier rollback(s)")
        self.resume_note = "; ".join(notes)
        self._state = state
        if self.engine.is_main:
            self._truncate_stats()

    def _restore_optimizers(self, state: dict) -> None:
        try:
            self.opt_d.load_state_dict(state["opt_d"])
            self.opt_g.load_state_dict(state["opt_g"])
        except (ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise CheckpointError(f"the resume state in {self.run_dir} has optimiser states that do not fit "
                                  f"this model ({type(exc).__name__}: {exc}); start a new run") from None

    def _truncate_stats(self) -> None:
        """Drop stats lines written after the current step (they will be written again)."""
        path = self.run_dir / STATS_NAME
        if path.exists():
            kept = [r for r in read_jsonl(path) if isinstance(r.get("step"), int) and r["step"] <= self.step]
            atomic_write_text(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept))

    def _apply_state(self, state: dict, *, source: Path) -> None:
        """Weights, step, elapsed time and random streams from a resume state."""
        checkpoint.load_weights(self.model, state["model"], source=str(source))
        self.step, self.elapsed = int(state["step"]), float(state.get("elapsed", 0.0))
        eng = self.engine
        if state.get("world_size", 1) == eng.world_size:  # each process continues its own random streams
            try:
                rng = state.get("rng_ranks", [state["rng"]])[eng.rank]
                self.gen_latent.set_state(rng["latent"])
                self.gen_data.set_state(rng["data"])
                torch.set_rng_state(rng["torch"])
            except (KeyError, IndexError, TypeError, RuntimeError) as exc:
                raise CheckpointError(f"{source} has unusable random-generator states ({type(exc).__name__}: "
                                      f"{exc}); it was refused") from None
        else:  # N -> M processes: fresh streams per process, mixed with the step so step 0's are not replayed
            base = (self.config.train.seed * 1_000_003 + self.step) * 1000 + 2 * eng.rank
            self.gen_latent.manual_seed(base + 1)
            self.gen_data.manual_seed(base + 2)

    def _roll_back(self, exc: NonFiniteError) -> None:
        """nan_policy "rollback": return to the newest saved state and halve both learning rates.

        Raises:
            NonFiniteError: policy "stop", no state to return to, or MAX_ROLLBACKS already used; the last
                good snapshot and state are left as they are.
        """
        good = checkpoint.snapshot_step(self.run_dir / checkpoint.SNAPSHOT_NAME)
        kept = (f"the last good snapshot (step {good}) in {self.run_dir} is kept" if good is not None
                else f"no snapshot was written to {self.run_dir} yet")
        advice = ("retrain with lower --lr-d/--lr-g or --precision fp32, or with --nan-policy rollback"
                  if self.config.train.nan_policy == "stop" else "retrain with lower --lr-d/--lr-g")
        if self.config.train.nan_policy != "rollback" or self.rollbacks >= MAX_ROLLBACKS:
            tries = f" after {self.rollbacks} rollbacks" if self.rollbacks else ""
            raise NonFiniteError(f"{exc}{tries}; {kept}. Stopped: {advice}") from None
        path, state, _ = checkpoint.latest_state(self.run_dir)
        if state is None:
            raise NonFiniteError(f"{exc}; no resume state to roll back to; {kept}") from None
        bad_step = self.step
        self._apply_state(state, source=path)
        self._restore_optimizers(state)
        self.rollbacks = max(self.rollbacks, int(state.get("rollbacks", 0))) + 1
        scale = 0.5 ** self.rollbacks  # from the configured rates, so repeated rollbacks keep lowering them
        for opt, lr in ((self.opt_d, self.config.optim.lr_d), (self.opt_g, self.config.optim.lr_g)):
            for group in opt.param_groups:
                group["lr"] = lr * scale
        self._acc = {}
        if self.engine.is_main:
            self._truncate_stats()
            print(f"infogan: {exc}: rolled back from step {bad_step} to step {self.step} ({path.name}); "
                  f"learning rates halved to lr_d={self.opt_d.param_groups[0]['lr']:.3g}, "
                  f"lr_g={self.opt_g.param_groups[0]['lr']:.3g} (rollback {self.rollbacks} of {MAX_ROLLBACKS})",
                  file=sys.stderr)
