"""benchmarks/dsprites_fork.py: a fork without a change retraces the run it forks; a scaled one does not."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

import infogan
from infogan.snapshot import read_snapshot

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from dsprites_fork import fork


def test_a_fork_retraces_the_run_and_a_scaled_learning_rate_leaves_its_path(tmp_path):
    cfg = infogan.get_preset("dsprites").replace(
        model={"arch": "dsprites-cr-g"}, data={"subset": 256, "data_dir": str(tmp_path / "data")},
        train={"iterations": 2, "batch_size": 16, "tick": 1, "snapshot_every": 2, "precision": "fp32",
               "eval_every": 0})
    run = infogan.train(cfg, outdir=tmp_path / "runs", progress=False)
    _, at_fork, _ = read_snapshot(run.run_dir / "snapshot.safetensors")
    same = fork(run.run_dir, steps=2, eval_every=1, samples=32, ema=[0.5], snapshot=tmp_path / "same.safetensors")
    slow = fork(run.run_dir, steps=2, eval_every=2, samples=32, lr_scale=0.01, snapshot=tmp_path / "slow.safetensors")
    continued = infogan.train(resume=run.run_dir, iterations=4, progress=False)  # the run's own next two steps

    assert same["fork_step"] == 2 and [r["since_fork"] for r in same["curve"]] == [0, 1, 2]
    assert set(same["curve"][-1]) == {"step", "since_fork", "live", "ema_0.5"}
    assert [r["since_fork"] for r in slow["curve"]] == [0, 2]
    _, forked, step = read_snapshot(tmp_path / "same.safetensors")
    _, scaled, _ = read_snapshot(tmp_path / "slow.safetensors")
    _, own, _ = read_snapshot(continued.run_dir / "snapshot.safetensors")
    assert step == 4 and forked.keys() == own.keys()
    assert all(torch.equal(forked[k], own[k]) for k in own)  # the fork is the run's own continuation
    g = [k for k in own if k.startswith("G.") and own[k].is_floating_point() and "weight" in k]

    def moved(weights: dict) -> float:
        return sum(float((weights[k] - at_fork[k]).abs().sum()) for k in g)

    assert 0 < moved(scaled) < 0.5 * moved(own)  # a hundredth of the step size: G moves far less
    with pytest.raises(SystemExit, match="nothing is overwritten"):
        fork(run.run_dir, steps=1, eval_every=1, samples=8, snapshot=tmp_path / "same.safetensors")
