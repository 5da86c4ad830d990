"""Resume and rollback for :class:`infogan.training.loop.Trainer`: reading a run's newest complete state back,
and returning to it when the weights stop being finite (``nan_policy`` "rollback")."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from infogan import snapshot
from infogan.errors import CheckpointError
from infogan.training import state as resume_state
from infogan.training.guard import MAX_ROLLBACKS, NonFiniteError


class Recovery:
    """The trainer's resume and rollback methods (a mixin: they use the trainer's model, optimisers,
    generators, batch source, engine, config and run folder)."""

    def _resume_from_files(self) -> resume_state.ResumeState | None:
        """Load the newest complete state (or none: step 0), explained in ``resume_note``."""
        path, state, problems = resume_state.latest_state(self.run_dir)
        notes = [f"skipped {p}" for p in problems]
        snap_path = self.run_dir / snapshot.SNAPSHOT_NAME
        snap_step = snapshot.snapshot_step(snap_path)
        if state is None:
            notes.append("no resume state was written yet: starting again from step 0")
        else:
            self._apply_state(state, source=path)
            self.rollbacks = state.rollbacks
            notes.append(f"{path.name}")
            if snap_step is not None and snap_step > self.step:
                notes.append(f"{snap_path.name} is at step {snap_step}, newer than the newest complete state: "
                             f"the process ended between writing the two, so steps {self.step + 1}..{snap_step} "
                             "are trained again (bit-identically with --deterministic on CPU)")
            elif snap_step != self.step and self.engine.is_main:  # missing, unreadable or older: rewrite it
                snapshot.save_snapshot(self.model, snap_path, config=self.config, step=self.step)
                was = f"at step {snap_step}" if snap_step is not None else "missing or unreadable"
                notes.append(f"{snap_path.name} was {was} and was rewritten from the state")
            if self.rollbacks:
                notes.append(f"learning rates halved by {self.rollbacks} earlier rollback(s)")
        self.resume_note = "; ".join(notes)
        if self.engine.is_main:
            resume_state.truncate_stats(self.run_dir, self.step)
        return state

    def _apply_state(self, state: resume_state.ResumeState, *, source: Path) -> None:
        """Weights, step, elapsed time and random streams from a resume state."""
        snapshot.load_weights(self.model, state.model, source=str(source))
        self.step, self.elapsed = int(state.step), float(state.elapsed)
        eng = self.engine
        if state.world_size == eng.world_size:  # each process continues its own random streams
            try:
                rng = state.rng_ranks[eng.rank]
                self.gen_latent.set_state(rng["latent"])
                self.gen_data.set_state(rng["data"])
                torch.set_rng_state(rng["torch"])
                self.batches.load_state(state.sampler)
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
        good = snapshot.snapshot_step(self.run_dir / snapshot.SNAPSHOT_NAME)
        kept = (f"the last good snapshot (step {good}) in {self.run_dir} is kept" if good is not None
                else f"no snapshot was written to {self.run_dir} yet")
        advice = ("retrain with lower --lr-d/--lr-g or --precision fp32, or with --nan-policy rollback"
                  if self.config.train.nan_policy == "stop" else "retrain with lower --lr-d/--lr-g")
        if self.config.train.nan_policy != "rollback" or self.rollbacks >= MAX_ROLLBACKS:
            tries = f" after {self.rollbacks} rollbacks" if self.rollbacks else ""
            raise NonFiniteError(f"{exc}{tries}; {kept}. Stopped: {advice}") from None
        path, state, _ = resume_state.latest_state(self.run_dir)
        if state is None:
            raise NonFiniteError(f"{exc}; no resume state to roll back to; {kept}") from None
        bad_step = self.step
        self._apply_state(state, source=path)
        resume_state.restore_optimizers(state, self.opt_d, self.opt_g, self.run_dir)
        self.rollbacks = max(self.rollbacks, state.rollbacks) + 1
        scale = 0.5 ** self.rollbacks  # from the configured rates, so repeated rollbacks keep lowering them
        for opt, lr in ((self.opt_d, self.config.optim.lr_d), (self.opt_g, self.config.optim.lr_g)):
            for group in opt.param_groups:
                group["lr"] = lr * scale
        self._acc = {}
        if self.engine.is_main:
            resume_state.truncate_stats(self.run_dir, self.step)
            print(f"infogan: {exc}: rolled back from step {bad_step} to step {self.step} ({path.name}); "
                  f"learning rates halved to lr_d={self.opt_d.param_groups[0]['lr']:.3g}, "
                  f"lr_g={self.opt_g.param_groups[0]['lr']:.3g} (rollback {self.rollbacks} of {MAX_ROLLBACKS})",
                  file=sys.stderr)
