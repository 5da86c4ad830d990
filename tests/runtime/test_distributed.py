"""Data-parallel training under torchrun (gloo on CPU): lock-step ranks, equivalence with one process,
rank-0-only writes, resume on another process count, and the environment errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import infogan
from infogan.cli import main
from infogan.errors import ConfigError
from infogan.runtime import distributed as dist_utils
from infogan.runtime.engine import Engine
from infogan.training import state as resume_state

TESTS = Path(__file__).resolve().parents[1]  # distributed_worker.py
sys.path.insert(0, str(TESTS))
import distributed_worker as worker  # noqa: E402

TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
                 "GROUP_RANK", "ROLE_RANK", "TORCHELASTIC_RUN_ID")


def torchrun(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc_per_node 2 ARGS`` (a free local port; gloo on CPU)."""
    env = {k: v for k, v in os.environ.items() if k not in TORCHRUN_VARS}
    env["OMP_NUM_THREADS"] = "1"  # one thread per process on the 2-core CI machine
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *args]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env, timeout=300)
    assert res.returncode == 0, f"{' '.join(cmd)}\n{res.stdout}\n{res.stderr}"
    return res


@pytest.fixture
def no_torchrun_env(monkeypatch):
    for name in TORCHRUN_VARS:
        monkeypatch.delenv(name, raising=False)


def torchrun_env(monkeypatch, rank=0, world=2):
    monkeypatch.setenv("RANK", str(rank))
    monkeypatch.setenv("WORLD_SIZE", str(world))
    monkeypatch.setenv("LOCAL_RANK", str(rank))
    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(world))


# ----- two processes -------------------------------------------------------------------------------------
@pytest.mark.slow
def test_two_processes_stay_in_lockstep_and_match_one_process(tmp_path, no_torchrun_env):
    torchrun(str(TESTS / "distributed_worker.py"), str(tmp_path), cwd=tmp_path)

    lock = json.loads((tmp_path / "lockstep.json").read_text())
    assert lock["world_size"] == 2
    assert lock["max_diff_per_step"] == [0.0, 0.0, 0.0]  # bit-identical weights and BN statistics every step
    assert lock["different_streams"]  # ... while each rank draws its own noise, codes and data
    assert len(set(lock["run_dirs"])) == 1 and len(list((tmp_path / "runs").iterdir())) == 1

    # the batch-norm layer alone, float64: split batches == the whole batch up to rounding
    bn = json.loads((tmp_path / "batchnorm.json").read_text())
    assert max(bn.values()) < 1e-12, bn

    # one train_step, 2 processes x 4 images == 1 process x 8 images (same fixed images and latent)
    config = worker.tiny_config()
    ref = worker.one_step(config, tmp_path, Engine.from_config(config.train), rank=0, world=1)
    sync = torch.load(tmp_path / "equiv-sync.pt")
    nosync = torch.load(tmp_path / "equiv-nosync.pt")
    assert mismatches(sync, ref) == [], "2 processes with SyncBatchNorm differ from 1 process"
    # the tolerances do discriminate: per-process batch statistics give other gradients
    assert len(mismatches(nosync, ref)) > 10


def mismatches(got: dict, ref: dict) -> list[str]:
    """Names whose values differ beyond the stated tolerance (fp32).

    Gradients: within 5e-4 of the tensor's largest gradient (seen: 5e-5, rounding in batch-norm backward).
    Parameters after Adam's first step: within 1e-6 wherever the gradient exceeds 1e-3 of the tensor's
    largest (Adam's first step moves each weight by about lr * sign(grad), so a weight whose gradient is
    rounding noise around 0 may move either way). Buffers (BN running statistics): 1e-4 absolute.
    """
    bad = []
    assert set(got["grads"]) == set(ref["grads"]) and set(got["params"]) == set(ref["params"])
    for name, g in ref["grads"].items():
        scale = g.abs().max()
        if (got["grads"][name] - g).abs().max() > 5e-4 * scale:
            bad.append(f"grad {name}")
        mask = g.abs() > 1e-3 * scale
        if (got["params"][name] - ref["params"][name]).abs()[mask].max() > 1e-6:
            bad.append(f"param {name}")
    for name, b in ref["buffers"].items():
        if (got["buffers"][name].float() - b.float()).abs().max() > 1e-4:
            bad.append(f"buffer {name}")
    return bad


@pytest.mark.slow
def test_torchrun_cli_writes_once_then_resumes_on_one_process(tmp_path, no_torchrun_env, capsys):
    out = tmp_path / "runs"
    res = torchrun("-m", "infogan", "train", "--preset", "fake", "--iterations", "4", "--tick", "2",
                   "--outdir", str(out), "--no-progress", "--no-eval", "--data-dir", str(tmp_path), cwd=tmp_path)
    runs = list(out.iterdir())
    assert len(runs) == 1, runs
    run = runs[0]
    assert res.stdout.count("run folder:") == 1  # rank 0 alone reports (and would evaluate)
    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert [s["step"] for s in stats] == [2, 4]  # one line per tick, not one per process
    assert stats[-1]["images"] == 4 * 8  # the batch is global: 8 images per step over both processes
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["fakes0000002.png", "fakes0000004.png"]
    assert len(list(run.glob("events.out.tfevents.*"))) == 1
    state = resume_state.load_state(run / "state.pt")
    assert state.step == 4 and state.world_size == 2 and len(state.rng_ranks) == 2

    # 2 processes -> 1 process: continues from step 4 with the same global batch
    assert main(["train", "--resume", str(run), "--iterations", "6", "--no-eval", "--no-progress"]) == 0
    assert "from step 4" in capsys.readouterr().out
    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert [s["step"] for s in stats] == [2, 4, 6] and stats[-1]["images"] == 6 * 8
    state = resume_state.load_state(run / "state.pt")
    assert state.step == 6 and state.world_size == 1


# ----- environment checks (no process group needed) --------------------------------------------------------
def test_nccl_without_gpus_is_a_config_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="nccl needs CUDA GPUs.*gloo"):
        dist_utils.resolve_backend("nccl", torch.device("cpu"))
    assert dist_utils.resolve_backend("auto", torch.device("cpu")) == "gloo"
    with pytest.raises(ConfigError, match="unknown --dist-backend"):
        dist_utils.resolve_backend("mpi", torch.device("cpu"))


def test_world_size_must_divide_the_global_batch(monkeypatch, tiny_config):
    torchrun_env(monkeypatch, rank=1, world=3)
    with pytest.raises(ConfigError, match="--batch-size 8 is the global batch.*3 processes"):
        Engine.from_config(tiny_config.train)  # fails before joining any process group
    assert dist_utils.check_batch(8, 2) == 4


def test_dist_backend_outside_torchrun_is_refused(no_torchrun_env, tmp_path, capsys):
    code = main(["train", "--preset", "fake", "--dist-backend", "gloo", "--outdir", str(tmp_path), "--no-eval"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "only applies to processes started by torchrun" in err
    assert not list(tmp_path.iterdir())


def test_torchrun_environment_is_read_and_checked(monkeypatch, no_torchrun_env, tiny_config):
    assert dist_utils.process_info() is None
    assert Engine.from_config(tiny_config.train).world_size == 1
    torchrun_env(monkeypatch, rank=1, world=2)
    assert dist_utils.process_info() == dist_utils.ProcessInfo(1, 2, 1, 2)
    monkeypatch.setenv("RANK", "5")
    with pytest.raises(ConfigError, match="inconsistent torchrun environment"):
        dist_utils.process_info()
    torchrun_env(monkeypatch, rank=1, world=2)
    with pytest.raises(ConfigError, match="MASTER_ADDR"):  # WORLD_SIZE set by hand, not by torchrun
        Engine.from_config(tiny_config.train)


def test_no_sync_bn_flag_reaches_the_config():
    from infogan.cli.args import config_from_args
    from infogan.cli.main import build_parser

    args = build_parser().parse_args(["train", "--preset", "fake", "--no-sync-bn"])
    assert config_from_args(args).train.sync_batchnorm is False
    assert config_from_args(build_parser().parse_args(["train", "--preset", "fake"])).train.sync_batchnorm


def test_converted_batchnorm_keeps_weights_and_acts_locally_on_one_process(tiny_config):
    torch.manual_seed(0)
    model = infogan.models.build_model(tiny_config.model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    params = {id(p) for p in model.parameters()}
    x = torch.randn(4, tiny_config.model.latent.g_input_dim)
    expected = model.G(x)
    dist_utils.convert_batchnorm(model, torch.device("cpu"))
    assert any(isinstance(m, dist_utils.CrossProcessBatchNorm) for m in model.modules())
    assert not any(type(m) in (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d) for m in model.modules())
    assert {id(p) for p in model.parameters()} == params  # the optimiser's tensors are unchanged
    assert model.state_dict().keys() == before.keys()  # snapshots load into plain models
    torch.testing.assert_close(model.G(x), expected)  # no process group: plain batch norm
