"""``infogan reproduce`` end to end on the tiny architecture and fake data: two seeds plus baselines, the
report, a re-run that skips finished seeds, resume after an interruption, and refusal of a changed config."""

import json

import pytest

import infogan
from infogan.cli import main
from infogan.errors import ConfigError
from infogan.reproduce import config_differences, plan
from infogan.storage import read_jsonl
from infogan.training import Trainer


@pytest.fixture
def config_file(tmp_path, tiny_arch):
    cfg = infogan.get_preset("fake").replace(model={"arch": tiny_arch}, train={
        "iterations": 4, "batch_size": 8, "tick": 2, "snapshot_every": 2, "precision": "fp32"})
    path = tmp_path / "tiny.json"
    path.write_text(cfg.to_json())
    return path


def reproduce(config_file, outdir, *extra):
    return main(["reproduce", "mnist", "--config", str(config_file), "--seeds", "2", "--baseline-iterations", "2",
                 "--outdir", str(outdir), "--no-progress", "--attribute-draws", "3", "--quality-samples", "200", *extra])


def test_reproduce_trains_reports_and_skips_finished_seeds(config_file, tmp_path, capsys):
    out = tmp_path / "repro"
    assert reproduce(config_file, out) == 0
    text = capsys.readouterr().out
    names = ["fake-seed0", "fake-baseline-seed0", "fake-seed1", "fake-baseline-seed1"]
    assert sorted(p.name for p in out.iterdir()) == sorted(names + ["report"])
    for name in names:
        stats = read_jsonl(out / name / "stats.jsonl")
        cfg = json.loads((out / name / "config.json").read_text())
        assert cfg["optim"]["info_to_g"] == ("baseline" not in name)
        assert cfg["preset"] == ("fake-baseline" if "baseline" in name else "fake")
        assert stats[-1]["step"] == (2 if "baseline" in name else 4) and cfg["train"]["seed"] == int(name[-1])
        session = json.loads((out / name / "machine.json").read_text())["sessions"]
        assert len(session) == 1 and session[0]["to_step"] == stats[-1]["step"] and session[0]["machine"]["cores"]
    assert f"report: {out / 'report' / 'report.html'}" in text
    md = (out / "report" / "report.md").read_text()
    assert "2 InfoGAN run(s) (seeds 0, 1) and 2 GAN-baseline run(s) (seeds 0, 1)" in md

    before = {p: p.stat().st_mtime_ns for p in out.glob("*/*") if p.is_file() and p.parent.name != "report"}
    assert reproduce(config_file, out, "--no-report") == 0  # the report's reuse is tested in test_report.py
    text = capsys.readouterr().out
    assert all(f"{name}: finished at step" in text for name in names) and "training" not in text
    after = {p: p.stat().st_mtime_ns for p in out.glob("*/*") if p.is_file() and p in before}
    assert after == before  # nothing retrained, no metric recomputed


def test_reproduce_resumes_an_interrupted_run(config_file, tmp_path, capsys, monkeypatch):
    out = tmp_path / "repro"
    save = Trainer.save

    def save_then_stop(self):  # as if SIGINT arrived right after the first snapshot
        save(self)
        self.request_stop()

    monkeypatch.setattr(Trainer, "save", save_then_stop)
    assert reproduce(config_file, out, "--seeds", "1", "--baseline-iterations", "0") == 0
    assert "fake-seed0: stopped at step 2; run the same command again" in capsys.readouterr().out
    assert not (out / "report").exists()
    monkeypatch.setattr(Trainer, "save", save)
    assert reproduce(config_file, out, "--seeds", "1", "--baseline-iterations", "0", "--no-report") == 0
    assert "fake-seed0: resuming from step 2" in capsys.readouterr().out
    assert [r["step"] for r in read_jsonl(out / "fake-seed0" / "stats.jsonl")] == [2, 4]
    sessions = json.loads((out / "fake-seed0" / "machine.json").read_text())["sessions"]
    assert [(s["from_step"], s["to_step"]) for s in sessions] == [(0, 2), (2, 4)]


def test_reproduce_restarts_a_run_without_snapshot_and_refuses_a_changed_config(config_file, tmp_path, capsys):
    out = tmp_path / "repro"
    folder = out / "fake-seed0"
    folder.mkdir(parents=True)
    cfg = plan(infogan.RunConfig.from_json(config_file.read_text()), seeds=1, baseline_iterations=0)[0].config
    (folder / "config.json").write_text(cfg.to_json())
    (folder / "stats.jsonl").write_text('{"step": 2}\n')
    assert reproduce(config_file, out, "--seeds", "1", "--baseline-iterations", "0", "--no-report") == 0
    assert "restarted: no snapshot yet" in capsys.readouterr().out
    assert [r["step"] for r in read_jsonl(folder / "stats.jsonl")] == [2, 4]

    assert reproduce(config_file, out, "--seeds", "1", "--baseline-iterations", "0", "--lr-d", "0.001") == 2
    err = capsys.readouterr().err
    assert "different config" in err and "optim.lr_d" in err and "Traceback" not in err
    assert reproduce(config_file, out, "--baseline") == 2
    assert "drop --baseline" in capsys.readouterr().err


def test_dry_run_plans_without_writing(tmp_path, capsys):
    assert main(["reproduce", "mnist", "--seeds", "3", "--outdir", str(tmp_path / "r"), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 6 and not (tmp_path / "r").exists()
    assert "mnist-seed2: 1500 iterations, batch 64, tick 20" in lines[4]
    assert "mnist-baseline-seed2: 1000 iterations, batch 64, tick 20, snapshot every 500, info_to_g False" in lines[5]
    assert main(["reproduce", "mnist", "--schedule", "official", "--seeds", "1", "--dry-run"]) == 0
    assert "5000 iterations, batch 128, tick 20, snapshot every 1000" in capsys.readouterr().out


def test_plan_and_config_differences():
    cfg = infogan.get_preset("mnist").with_tick(20)
    runs = plan(cfg, seeds=2, first_seed=3, baseline_iterations=30)
    assert [r.name for r in runs] == ["mnist-seed3", "mnist-baseline-seed3", "mnist-seed4", "mnist-baseline-seed4"]
    base = runs[1].config
    assert runs[1].baseline and base.train.iterations == 30 and base.train.snapshot_every == 20
    assert base.model == cfg.model and base.optim.lr_g == cfg.optim.lr_g
    assert config_differences(cfg, cfg.replace(train={"device": "cuda", "precision": "bf16"})) == []
    assert config_differences(cfg, cfg.replace(train={"batch_size": 7})) == ["train.batch_size 64 -> 7"]
    with pytest.raises(ConfigError, match="drop --baseline"):
        plan(cfg.replace(optim={"info_to_g": False}))
    with pytest.raises(ConfigError, match="at least 1"):
        plan(cfg, seeds=0)


# ----- --jobs: runs in parallel worker processes -------------------------------------------------------------
def _parallel_config(tmp_path, **train):
    """The 'fake' preset on the real MNIST architecture: spawned workers cannot see the test-only 'tiny' one."""
    cfg = infogan.get_preset("fake").replace(train={"iterations": 4, "batch_size": 8, "tick": 2,
                                                    "snapshot_every": 2, "precision": "fp32", **train})
    path = tmp_path / "parallel.json"
    path.write_text(cfg.to_json())
    return path


def _parallel_args(config, outdir, *extra):
    return ["reproduce", "mnist", "--config", str(config), "--seeds", "2", "--baseline-iterations", "2",
            "--outdir", str(outdir), "--no-progress", "--no-report", "--jobs", "2", "--threads-per-job", "1", *extra]


def test_parallel_jobs_train_every_run_then_skip_them(tmp_path, capfd):
    config, out = _parallel_config(tmp_path), tmp_path / "repro"
    assert main(_parallel_args(config, out)) == 0
    text = capfd.readouterr().out
    names = ["fake-seed0", "fake-baseline-seed0", "fake-seed1", "fake-baseline-seed1"]
    assert "training 4 run(s), 2 at a time, 1 thread(s) each" in text
    for name in names:
        last = 2 if "baseline" in name else 4
        assert f"{name}: finished at step {last}" in text
        assert read_jsonl(out / name / "stats.jsonl")[-1]["step"] == last
        cfg = json.loads((out / name / "config.json").read_text())
        assert cfg["train"]["seed"] == int(name[-1]) and cfg["optim"]["info_to_g"] == ("baseline" not in name)
        sessions = json.loads((out / name / "machine.json").read_text())["sessions"]
        assert [(s["from_step"], s["to_step"]) for s in sessions] == [(0, last)]
    before = {p: p.stat().st_mtime_ns for p in out.glob("*/*")}
    assert main(_parallel_args(config, out)) == 0
    text = capfd.readouterr().out
    assert all(f"{name}: finished at step" in text and "skipped" in text for name in names)
    assert "training" not in text and {p: p.stat().st_mtime_ns for p in out.glob("*/*")} == before


def test_parallel_worker_failure_is_one_line_per_run(tmp_path, capfd):
    cfg = infogan.RunConfig.from_json(_parallel_config(tmp_path).read_text())
    missing = tmp_path / "no-such-folder"
    config = tmp_path / "missing-data.json"
    config.write_text(cfg.replace(data={"dataset": f"imagefolder:{missing}"}).to_json())
    assert main(_parallel_args(config, tmp_path / "repro", "--seeds", "1")) == 2
    err = capfd.readouterr().err
    assert "Traceback" not in err
    for name in ("fake-seed0", "fake-baseline-seed0"):  # each worker's own error, then the parent's summary
        assert f"{name}: error: image folder {missing} does not exist" in err
    assert "training failed for fake-seed0 (exit code 2), fake-baseline-seed0 (exit code 2)" in err
    assert main(_parallel_args(config, tmp_path / "repro", "--jobs", "0")) == 2
    assert "argument --jobs: must be an integer in 1..256, got '0'" in capfd.readouterr().err


def test_parallel_stop_on_sigint_saves_every_running_run(tmp_path):
    """Ctrl-C (SIGINT to the process group) stops the parent and every worker with a saved state (resuming
    from such a state is tested above, in one process)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    config, out = _parallel_config(tmp_path, iterations=100_000), tmp_path / "repro"
    args = [sys.executable, "-m", "infogan", *_parallel_args(config, out, "--baseline-iterations", "0")]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    states = [out / f"fake-seed{s}" / "state.pt" for s in (0, 1)]
    deadline = time.monotonic() + 120
    while not all(s.exists() for s in states) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert all(s.exists() for s in states), "both workers should have saved a first state"
    os.killpg(proc.pid, signal.SIGINT)
    text, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, text
    assert "stopped; run the same command again" in text and "Traceback" not in text
    for seed in (0, 1):
        assert f"fake-seed{seed}: stopped at step" in text
        steps = [r["step"] for r in read_jsonl(out / f"fake-seed{seed}" / "stats.jsonl")]
        assert steps and steps == sorted(set(steps))
