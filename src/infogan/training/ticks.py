"""What a tick records: a line of ``stats.jsonl``, TensorBoard scalars, the fixed-noise sample grid, the bar.

Rank 0 alone writes; the other processes of a torchrun job get a recorder that writes nothing.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from infogan.errors import UnsafeFileError
from infogan.inference.viz import sample_sheet, save_grid
from infogan.latent.spec import Latent
from infogan.models import InfoGAN
from infogan.storage import append_jsonl, check_target
from infogan.training.rundir import STATS_NAME

FIXED_SEED = 1234  # the noise and codes of every run's sample grids (comparable across runs)


class TickRecorder:
    """Writes a run's progress records.

    Args:
        run_dir: the run folder.
        model: the networks (the sample grid is drawn in eval mode, then training mode is restored).
        fixed_latent: the z and c of the sample grid (100 draws; rows are categories of the first code).
        total: iterations of the run (the progress bar's end).
        step: the step training starts from (TensorBoard drops events after it: a resumed run overwrites them).
        writes: False on processes other than rank 0.
        progress: show a tqdm bar.
    """

    def __init__(self, run_dir: Path, model: InfoGAN, fixed_latent: Latent, *, total: int, step: int,
                 writes: bool = True, progress: bool = True) -> None:
        self.run_dir, self.model, self.fixed_latent = run_dir, model, fixed_latent
        self.writes = writes
        self.writer = self._tensorboard(step) if writes else None
        self.bar = self._bar(total, step) if (writes and progress) else None

    def record(self, stats: dict, postfix: dict) -> None:
        """Append ``stats`` (one tick), write its scalars and the sample grid, and update the bar."""
        if self.writes:
            append_jsonl(self.run_dir / STATS_NAME, stats)
            if self.writer is not None:
                for key, value in stats.items():
                    if key != "step":
                        self.writer.add_scalar(key, value, stats["step"])
                self.writer.flush()
            was_training = self.model.training
            save_grid(sample_sheet(self.model, self.fixed_latent),
                      self.run_dir / "samples" / f"fakes{stats['step']:07d}.png", root=self.run_dir)
            self.model.train(was_training)
        if self.bar is not None:
            self.bar.set_postfix(postfix)

    def advance(self) -> None:
        """One more iteration on the bar."""
        if self.bar is not None:
            self.bar.update(1)

    def rewind(self, step: int) -> None:
        """After a rollback to ``step``: TensorBoard reopened (it drops the events after it), bar moved back."""
        if self.writer is not None:
            self.writer.close()
            self.writer = self._tensorboard(step)
        if self.bar is not None:
            self.bar.n = step
            self.bar.refresh()

    def close(self) -> None:
        """Close the bar and the TensorBoard writer (a full disk must not hide an error being raised)."""
        if self.bar is not None:
            self.bar.close()
        if self.writer is not None:
            try:
                self.writer.close()
            except OSError:
                pass

    def _tensorboard(self, step: int):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is a dependency, but a broken install must not stop training
            return None
        # a new event file per start, its name ending in a random token: no link put in the run folder
        # beforehand can have its name, so TensorBoard's own open() cannot be led elsewhere
        suffix = f".{secrets.token_hex(8)}"
        writer = SummaryWriter(log_dir=str(self.run_dir), purge_step=step or None, filename_suffix=suffix)
        for path in self.run_dir.glob(f"events.out.tfevents.*{suffix}"):
            try:
                check_target(path)
            except UnsafeFileError:
                writer.close()
                raise
        return writer

    def _bar(self, total: int, step: int):
        from tqdm.auto import tqdm

        return tqdm(total=total, initial=step, unit="it", dynamic_ncols=True, desc=self.run_dir.name)
