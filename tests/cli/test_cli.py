"""The real command end to end on fake data: train, eval, sample, traverse, resume, errors."""

import json
import subprocess
import sys

import pytest

import infogan
from infogan.cli import main


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "infogan", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


@pytest.mark.slow
def test_cli_end_to_end_on_fake_data(tmp_path):
    out = tmp_path / "runs"
    res = run_cli("train", "--preset", "fake", "--outdir", str(out), "--no-progress", "--data-dir", str(tmp_path))
    assert res.returncode == 0, res.stderr
    run = out / "00000-fake-seed0"
    assert f"run folder: {run}" in res.stdout
    assert "code_acc_fake_test: accuracy" in res.stdout and "traverse-c2.png" in res.stdout
    assert "fid_mnistnet_fake_10k: FID" in res.stdout and "real-vs-real floor" in res.stdout  # FID by default
    assert (run / "traversals" / "traverse-c3.png").exists()

    res = run_cli("eval", str(run), "--json", "--samples", "200")
    assert res.returncode == 0, res.stderr
    results = json.loads(res.stdout)
    assert set(results) == {"code_acc_fake_test", "info_bound_n200", "fid_mnistnet_fake_n200"}
    lines = (run / "metric-code_acc_fake_test.jsonl").read_text().splitlines()
    assert len(lines) == 2  # one from train's final evaluation, one from eval
    assert json.loads(lines[-1])["accuracy"] == results["code_acc_fake_test"]["accuracy"]

    res = run_cli("sample", str(run), "--out", str(tmp_path / "s.png"))
    assert res.returncode == 0 and (tmp_path / "s.png").stat().st_size > 0
    res = run_cli("traverse", str(run), "--codes", "c1", "--outdir", str(tmp_path / "t"))
    assert res.returncode == 0 and (tmp_path / "t" / "traverse-c1.png").exists()

    res = run_cli("train", "--resume", str(run), "--iterations", "6", "--no-progress", "--no-eval")
    assert res.returncode == 0, res.stderr
    assert "from step 4" in res.stdout and "(step 6)" in res.stdout


def test_dry_run_prints_config_and_writes_nothing(tmp_path, capsys):
    assert main(["train", "--preset", "mnist", "--schedule", "official", "--seed", "3", "--dry-run",
                 "--outdir", str(tmp_path / "runs")]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["train"]["iterations"] == 5000 and cfg["train"]["batch_size"] == 128 and cfg["train"]["seed"] == 3
    assert not (tmp_path / "runs").exists()


def test_default_mnist_schedule_is_the_quick_one(capsys):
    assert main(["train", "--preset", "mnist", "--dry-run"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["train"]["iterations"] < 5000


@pytest.mark.parametrize("preset", sorted(infogan.PRESETS))
def test_the_library_and_the_command_line_train_the_same_config(preset, capsys):
    from infogan.config.presets import apply_schedule, schedule_names

    assert main(["train", "--preset", preset, "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out) == infogan.get_preset(preset).to_dict()
    for name in schedule_names(preset)[:1]:  # the first named schedule is the preset's own
        assert apply_schedule(infogan.get_preset(preset), name) == infogan.get_preset(preset)


@pytest.mark.parametrize("args, message", [
    (["train", "--preset", "nope"], "unknown preset"),
    (["train", "--latent", "cat1", "--dry-run"], "k >= 2"),
    (["train", "--batch-size", "0", "--dry-run"], "--batch-size"),
    (["train", "--preset", "mnist", "--schedule", "long", "--dry-run"], "no schedule"),
    (["eval", "/nonexistent/run"], "no snapshot"),
])
def test_bad_input_gives_one_clear_line(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
