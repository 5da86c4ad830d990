"""Non-finite values in training: a NaN/inf loss, gradient or weight stops the run with the last good snapshot
kept (``nan_policy="stop"``), or rolls back to the last state with halved learning rates (``"rollback"``),
giving up after three rollbacks. Split from test_faults.py (kills, signals, full disks)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import infogan
from infogan.storage import read_jsonl
from infogan.training import state as resume_state


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)  # tiny models: a second thread only adds synchronisation
    yield


def _stats_of(run: Path) -> list[dict]:
    return read_jsonl(run / "stats.jsonl")


def _poisoned(trainer, at: set[int], where: str = "loss", *, again: bool = False):
    """Wrap train_step so that the steps in ``at`` produce a NaN loss, gradient or weight (once each, unless
    ``again``: then every time the step is trained, also after a rollback)."""
    real = trainer.train_step
    at = set(at)

    def step():
        out = real()
        if trainer.step + 1 in at:
            if not again:
                at.discard(trainer.step + 1)
            p = next(trainer.model.G.parameters())
            if where == "loss":
                out = {**out, "loss_d": torch.tensor(float("nan"))}
            elif where == "gradient":
                p.grad[0] = float("inf")
            else:
                with torch.no_grad():
                    p[0] = float("nan")
        return out

    trainer.train_step = step
    return trainer


def _trainer(cfg, tmp_path, data):
    from infogan.training import Trainer
    from infogan.training.rundir import create_run_dir

    return Trainer(cfg, create_run_dir(tmp_path, cfg), data, progress=False)


@pytest.mark.parametrize("where, message", [("loss", r"non-finite loss at step 3 \(loss_d=nan, loss_g="),
                                            ("gradient", r"non-finite gradient at step 3 \(loss_d="),
                                            ("weights", r"non-finite loss at step 4")])
def test_non_finite_stops_and_keeps_the_last_good_snapshot(tmp_path, tiny_arch_config, fake_data, where, message):
    from infogan.training import NonFiniteError

    trainer = _poisoned(_trainer(tiny_arch_config, tmp_path, fake_data), {3}, where)
    with pytest.raises(NonFiniteError, match=message + r".*last good snapshot \(step 2\).*is kept") as info:
        trainer.run()
    assert resume_state.load_state(trainer.run_dir / "state.pt").step == 2 and infogan.load(trainer.run_dir).step == 2
    assert [r["step"] for r in _stats_of(trainer.run_dir)] == [2]
    assert "Stopped: retrain with lower --lr-d/--lr-g" in str(info.value)


def test_non_finite_weights_are_never_saved(tmp_path, tiny_arch_config, fake_data):
    from infogan.training import NonFiniteError

    trainer = _poisoned(_trainer(tiny_arch_config.replace(train={"tick": 1}), tmp_path, fake_data), {2}, "weights")
    with pytest.raises(NonFiniteError, match=r"non-finite weights at step 2 in G\.0\.0\.weight"):
        trainer.run()
    assert not (trainer.run_dir / "state.pt").exists()


def test_rollback_halves_the_learning_rates_and_finishes(tmp_path, tiny_arch_config, fake_data, capsys):
    cfg = tiny_arch_config.replace(train={"nan_policy": "rollback", "iterations": 6})
    trainer = _poisoned(_trainer(cfg, tmp_path, fake_data), {3, 5})
    result = trainer.run()
    assert result.step == 6 and not result.stopped_early
    err = capsys.readouterr().err
    assert "non-finite loss at step 3" in err and "rolled back from step 3 to step 2" in err
    assert "rolled back from step 5 to step 4" in err and "(rollback 2 of 3)" in err
    state = resume_state.load_state(trainer.run_dir / "state.pt")
    assert state.rollbacks == 2
    assert state.opt_d["param_groups"][0]["lr"] == pytest.approx(cfg.optim.lr_d / 4)
    assert state.opt_g["param_groups"][0]["lr"] == pytest.approx(cfg.optim.lr_g / 4)
    assert [r["step"] for r in _stats_of(trainer.run_dir)] == [2, 4, 6]
    capsys.readouterr()
    resumed = infogan.train(resume=trainer.run_dir, iterations=8, data=fake_data, progress=False)
    assert resumed.step == 8 and "halved by 2 earlier rollback" in capsys.readouterr().out


def test_rollback_gives_up_after_three(tmp_path, tiny_arch_config, fake_data):
    from infogan.training import NonFiniteError

    cfg = tiny_arch_config.replace(train={"nan_policy": "rollback"})
    trainer = _poisoned(_trainer(cfg, tmp_path, fake_data), {1}, again=True)  # back to the step-0 state
    with pytest.raises(NonFiniteError, match="non-finite loss at step 1 .* after 3 rollbacks"):
        trainer.run()
    assert resume_state.load_state(trainer.run_dir / "state.pt").step == 0
