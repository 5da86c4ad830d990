"""The training loop: a sequence of named phases (D phase, G phase), ticks, snapshots and resume.

The trainer knows nothing about any one architecture; the losses are :mod:`infogan.training.objective`'s.
One iteration (official openai/InfoGAN order):

1. draw z, c from the prior (and the consistency term's transforms) and a real batch; G(z, c) once;
2. **D phase**: :meth:`Objective.d_loss` on the real batch and G(z, c) detached; D's optimiser steps
   (D trunk, D head, Q head);
3. **G phase**: :meth:`Objective.g_loss` on G(z, c) with D frozen (no D weight gradients) and updated by the
   D phase; G's optimiser steps.

Losses are accumulated on the device and read on ticks only: no host synchronisation per step.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from infogan import snapshot
from infogan.config import RunConfig
from infogan.data.base import ImageData
from infogan.errors import TrainingError
from infogan.inference.generate import to_model_range
from infogan.latent.spec import Latent
from infogan.models import InfoGAN, build_model
from infogan.models.spectral import (
    has_power_iteration_sn,
    set_spectral_norm_update,
    spectral_norm_step,
)
from infogan.runtime.engine import Engine
from infogan.training import evaluation, guard
from infogan.training import state as resume_state
from infogan.training.batches import BatchSource
from infogan.training.guard import NonFiniteError
from infogan.training.logit_bound import OutputLogitBound
from infogan.training.objective import Objective
from infogan.training.recovery import Recovery
from infogan.training.ticks import FIXED_SEED, TickRecorder


@dataclass
class TrainResult:
    """What a finished (or stopped) run leaves behind."""

    run_dir: Path
    step: int
    stopped_early: bool
    last_stats: dict


class Trainer(Recovery):
    """Trains one run in ``run_dir`` (already created, ``config.json`` written).

    Args:
        config: the run config.
        run_dir: the run folder.
        data: the training split (uint8 images).
        resume: resume from the run's newest complete resume state when True.
        progress: show a tqdm bar.
        engine: device/precision/distribution choices (built from the config when None).
    """

    def __init__(self, config: RunConfig, run_dir: str | Path, data: ImageData, *, resume: bool = False,
                 progress: bool = True, engine: Engine | None = None) -> None:
        self.config, self.run_dir, self.progress = config, Path(run_dir), progress
        tc = config.train
        self.engine = engine or Engine.from_config(tc)
        eng = self.engine
        if tuple(data.shape) != tuple(config.model.image_shape):
            raise TrainingError(f"dataset images are {data.shape} but the model expects "
                                f"{config.model.image_shape}; pick the preset made for this dataset (see docs/experiments.md)")
        torch.manual_seed(tc.seed + eng.rank)
        self.model: InfoGAN = build_model(config.model).to(eng.device)
        if eng.is_main:  # fail now, not at the first snapshot, when the disk cannot hold one
            resume_state.check_free_space(self.run_dir, self.model)
        self.images = eng.to_device_data(data.images)  # (N, C, H, W) uint8, resident on the device
        self.gen_latent = torch.Generator(eng.device).manual_seed(tc.seed * 1000 + 2 * eng.rank + 1)
        self.gen_data = torch.Generator(eng.device).manual_seed(tc.seed * 1000 + 2 * eng.rank + 2)
        self.batches = BatchSource(len(self.images), self.gen_data, sampling=tc.sampling)
        if config.optim.sn_update == "per_iteration":  # the power iteration advances once per iteration
            if not has_power_iteration_sn(self.model):
                raise TrainingError(f"sn_update 'per_iteration' needs an architecture with that spectral norm "
                                    f"(dsprites-cr); {config.model.arch!r} has none: use sn_update 'every_call'")
            set_spectral_norm_update(self.model, False)
        self.step, self.elapsed = 0, 0.0
        self.rollbacks, self.resume_note = 0, ""
        state = self._resume_from_files() if resume else None
        self.G, self.D = eng.wrap(self.model)
        opt = config.optim
        self.opt_d = torch.optim.Adam(self.model.D.parameters(), lr=opt.lr_d, betas=(opt.beta1, opt.beta2),
                                      **eng.adam_kwargs())
        self.opt_g = torch.optim.Adam(self.model.G.parameters(), lr=opt.lr_g, betas=(opt.beta1, opt.beta2),
                                      **eng.adam_kwargs())
        eng.sync_gradients(self.opt_d, self.opt_g)  # DDP: gradients averaged over processes before each step
        eng.keep_state_layout(self.opt_d, self.opt_g)  # resumed moments get the parameters' memory layout
        if state is not None:
            resume_state.restore_optimizers(state, self.opt_d, self.opt_g, self.run_dir)
        self.objective = Objective.from_config(config, layout=eng.memory_format)
        self.logit_bound = OutputLogitBound(self.model.G, opt.g_logit_bound) if opt.g_logit_bound else None
        self.fixed_latent = self.model.spec.sample(100, generator=torch.Generator().manual_seed(FIXED_SEED))
        self._stop_requested = False
        self._acc: dict[str, torch.Tensor] = {}

    # ----- one iteration -----------------------------------------------------------------------------
    def real_batch(self, batch: int) -> torch.Tensor:
        """The next real batch from the resident data (``train.sampling``), in G's output range."""
        idx = self.batches.indices(batch)  # (B,)
        x = to_model_range(self.model, self.images[idx])  # (B, C, H, W) float
        return x.contiguous(memory_format=self.engine.memory_format)  # D's layout: no reorder in its first conv

    def train_step(self, real: torch.Tensor | None = None, latent: Latent | None = None) -> dict[str, torch.Tensor]:
        """One D phase and one G phase; returns detached loss tensors (not synchronised).

        Work shared between the phases, where the mathematics allows it: with ``g_latent="shared"`` G(z, c)
        is computed once (G's weights do not change between the phases; only G's batch-norm running
        statistics are updated once instead of twice); ``"fresh"`` draws new z, c for the G phase and runs G
        again (the official code). D's forward on G(z, c) is not shared: the G phase must see the D updated
        by the D phase (official order). D(real) and D(fake) stay two calls, because batch norm normalises
        each batch with its own statistics. With ``g_steps`` > 1 the G phase repeats on the same z, c with
        G(z, c) computed again after each G update (InfoGAN-CR's code). With ``d_steps`` > 1 the extra D
        phases come first, each on its own real batch, z, c and G forward.

        Args:
            real: a real batch in G's output range (drawn from the resident data when None).
            latent: the z and c of this step (drawn from the prior when None). Both are for tests and
                benchmarks that feed two training paths the same step.
        """
        spec, eng, objective = self.model.spec, self.engine, self.objective
        batch = eng.local_batch(self.config.train.batch_size)  # this process's share of the global batch
        real = self.real_batch(batch) if real is None else real.contiguous(memory_format=eng.memory_format)
        latent = spec.sample(batch, generator=self.gen_latent, device=eng.device) if latent is None else latent
        theta = objective.transforms(batch, generator=self.gen_latent, device=eng.device)
        opt = self.config.optim
        weight = min(1.0, (self.step + 1) / opt.consistency_warmup) if opt.consistency_warmup else 1.0
        eng.step_begin()
        for _ in range(opt.d_steps - 1):
            self._extra_d_step(batch, weight)
        with eng.autocast():
            fake = self.G(spec.g_input(latent.z, latent.codes))  # (B, C, H, W), one G forward for both phases
            loss_d, stats = objective.d_loss(self.D, real, fake.detach(), latent, theta, weight=weight)
        self.opt_d.zero_grad(set_to_none=True)  # set_to_none: no memset of the gradient buffers
        loss_d.backward()
        self.opt_d.step()

        if opt.g_latent == "fresh":  # the official code: the G step samples its own z, c
            latent = spec.sample(batch, generator=self.gen_latent, device=eng.device)
            theta = objective.transforms(batch, generator=self.gen_latent, device=eng.device)
        self.model.D.requires_grad_(False)  # G phase: only G's weights get gradients
        try:
            for g_step in range(opt.g_steps):
                if g_step or opt.g_latent == "fresh":
                    with eng.autocast():
                        fake = self.G(spec.g_input(latent.z, latent.codes))  # (B, C, H, W), G as updated
                with eng.autocast():
                    loss_g, stats_g = objective.g_loss(self.D, fake, latent, theta, weight=weight)
                if self.logit_bound is not None:  # on the pre-activations of the G forward that made `fake`
                    loss_g = loss_g + self.logit_bound.penalty()
                self.opt_g.zero_grad(set_to_none=True)
                loss_g.backward()
                self.opt_g.step()
        finally:
            self.model.D.requires_grad_(True)
        if opt.sn_update == "per_iteration":
            spectral_norm_step(self.model.D)
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), "gan_d": stats["gan_d"],
                "gan_g": stats_g["gan_g"], "info": stats["info"], "d_real": stats["d_real"], "d_fake": stats["d_fake"]}

    def _extra_d_step(self, batch: int, weight: float) -> None:
        """One D/Q update on a fresh real batch, z, c and G(z, c) (``d_steps`` > 1)."""
        spec, eng = self.model.spec, self.engine
        real = self.real_batch(batch)  # (B, C, H, W)
        latent = spec.sample(batch, generator=self.gen_latent, device=eng.device)
        theta = self.objective.transforms(batch, generator=self.gen_latent, device=eng.device)
        with eng.autocast():
            with torch.no_grad():
                fake = self.G(spec.g_input(latent.z, latent.codes))  # (B, C, H, W)
            loss_d, _ = self.objective.d_loss(self.D, real, fake, latent, theta, weight=weight)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()

    # ----- the loop ----------------------------------------------------------------------------------
    def run(self) -> TrainResult:
        """Train until ``config.train.iterations``; tick, snapshot, and stop cleanly on SIGINT/SIGTERM."""
        tc = self.config.train
        ticks = TickRecorder(self.run_dir, self.model, self.fixed_latent, total=tc.iterations, step=self.step,
                             writes=self.engine.is_main, progress=self.progress)
        self.model.train()
        try:
            with guard.stop_on_signals(self.request_stop):
                last_stats, stopped = self._loop(ticks)
        except OSError as exc:  # a write outside infogan.storage (TensorBoard, a PNG encoder) hit a full disk
            raise TrainingError(f"cannot write in {self.run_dir}: {exc.strerror or exc}; the last snapshot "
                                f"and state are intact. Free some space, then 'infogan train --resume "
                                f"{self.run_dir}'") from None
        finally:
            ticks.close()
        return TrainResult(self.run_dir, self.step, stopped, last_stats)

    def _loop(self, ticks: TickRecorder) -> tuple[dict, bool]:
        """Steps until the end or a stop request; returns the last tick's stats and whether it stopped early."""
        tc, eng = self.config.train, self.engine
        last_stats: dict = {}
        t_tick, n_tick = time.perf_counter(), 0
        if tc.nan_policy == "rollback" and self.step == 0:
            self.save()  # something to roll back to before the first snapshot
        while self.step < tc.iterations and not self._should_stop():
            try:
                out = self.train_step()
                self.step += 1
                n_tick += 1
                self._accumulate(out)
                if eng.check_every_step:
                    guard.check_step(self.model, out, self.step)
                ticks.advance()
                if self.step % tc.tick == 0 or self.step == tc.iterations:
                    now = time.perf_counter()
                    self.elapsed += now - t_tick
                    last_stats = self._tick(n_tick, now - t_tick, ticks)
                    t_tick, n_tick = time.perf_counter(), 0
                    if tc.eval_every and self.step % tc.eval_every == 0 and eng.is_main:
                        evaluation.during_training(self.model, self.config, self.run_dir, self.step)
                        t_tick = time.perf_counter()
                    if self.step % tc.snapshot_every == 0 or self.step == tc.iterations:
                        self.save()
                        t_tick = time.perf_counter()
            except NonFiniteError as exc:
                self._roll_back(exc)  # re-raised unless nan_policy is "rollback" with tries left
                ticks.rewind(self.step)
                t_tick, n_tick = time.perf_counter(), 0
        stopped = self.step < tc.iterations
        if stopped:  # SIGINT/SIGTERM: leave a resume state at the current step
            self._acc = {}
            self.save()
        return last_stats, stopped

    def request_stop(self) -> None:
        """Ask the loop to stop after the current step (it then writes a resume state)."""
        self._stop_requested = True

    def _should_stop(self) -> bool:
        # under DDP the processes agree on stopping, so that all stop at the same step: every step on CPUs
        # (a tiny all_reduce; torchrun kills workers 30 s after forwarding SIGTERM), on ticks on GPUs
        # (reading the flag is a host sync)
        eng = self.engine
        if not eng.distributed:
            return self._stop_requested
        due = eng.device.type == "cpu" or self.step % self.config.train.tick == 0
        return due and eng.any_true(self._stop_requested)

    # ----- ticks -------------------------------------------------------------------------------------
    def _accumulate(self, out: dict[str, torch.Tensor]) -> None:
        for key, value in out.items():
            value = value.float()
            self._acc[key] = self._acc[key] + value if key in self._acc else value.clone()

    def _tick(self, n: int, seconds: float, ticks: TickRecorder) -> dict:
        means = {k: (v / n) for k, v in self._acc.items()}
        means = self.engine.all_reduce_mean(means)
        self._acc = {}
        host = {k: v.tolist() for k, v in means.items()}  # the one host sync of the tick
        if not all(math.isfinite(host[k]) for k in ("loss_d", "loss_g")):
            raise guard.non_finite(self.step, "loss", host)
        names = self.model.spec.code_names()
        batch = self.config.train.batch_size  # global: all processes together
        stats = {"step": self.step, "images": self.step * batch, "time_s": round(self.elapsed, 3),
                 "images_per_s": round(n * batch / max(seconds, 1e-9), 1),
                 **{k: round(v, 6) for k, v in host.items() if k != "info"},
                 **{f"L_I/{name}": round(v, 6) for name, v in zip(names, host["info"])}}
        ticks.record(stats, {"D": f"{host['loss_d']:.3f}", "G": f"{host['loss_g']:.3f}",
                             **{f"L_I[{n_}]": f"{v:.2f}" for n_, v in zip(names, host["info"])}})
        return stats

    # ----- snapshots (resume and rollback: infogan.training.recovery) --------------------------------
    def save(self) -> None:
        """Write the inference snapshot, then the resume state (rank 0 only), after checking the weights.

        Raises:
            NonFiniteError: the weights are not finite (nothing is written).
        """
        guard.check_weights(self.model, self.step)
        rng = resume_state.rng_state(self.gen_latent, self.gen_data)
        rng_ranks = self.engine.gather_object(rng)  # every process's generators, for resume
        if not self.engine.is_main:
            self.engine.barrier()
            return
        snapshot.save_snapshot(self.model, self.run_dir / snapshot.SNAPSHOT_NAME, config=self.config, step=self.step)
        state = resume_state.ResumeState(
            step=self.step, elapsed=self.elapsed, config=self.config.to_json(),
            model={k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            opt_d=self.opt_d.state_dict(), opt_g=self.opt_g.state_dict(), rng=rng, rng_ranks=rng_ranks,
            world_size=self.engine.world_size, rollbacks=self.rollbacks, sampler=self.batches.state())
        resume_state.save_state(self.run_dir / resume_state.STATE_NAME, state)
        self.engine.barrier()
