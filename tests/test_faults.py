"""Fault injection: runs killed with SIGKILL at random moments (also inside checkpoint writes) and resumed each
time end bit-identical to an uninterrupted run; SIGTERM/SIGINT stop gracefully; a full disk or an unwritable
folder fails with one clear error and leaves no temporary files. Non-finite values: test_non_finite.py.

The SIGKILL test drives the real CLI (``infogan.cli.main(["train", ...])``) in processes forked from one
long-lived driver (``python tests/test_faults.py WORKDIR SEED KILLS ITERATIONS``), so that 20+ kills cost no
interpreter start-up each; the driver writes its findings as JSON and the test checks them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import infogan
from infogan import checkpoint
from infogan.errors import TrainingError
from infogan.io import TEMP_SUFFIX

HERE = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)  # tiny models: a second thread only adds synchronisation (and waits on a busy CPU)
    yield
KILLS = 24  # SIGKILLs in the driven run
DRIVER_ITERATIONS = 40


# ----- helpers shared by the driver and the tests -------------------------------------------------------------
def temp_files(run: Path) -> list[Path]:
    """Temporary files of interrupted atomic writes in a run folder and its samples folder."""
    return [p for folder in (run, run / "samples") if folder.is_dir() for p in folder.iterdir()
            if p.name.startswith(".") and p.name.endswith(TEMP_SUFFIX)]


def stats_of(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]


def assert_same_training(a: Path, b: Path) -> None:
    """Two run folders hold bitwise-equal final states, snapshots and per-step stats (times aside)."""
    sa, sb = checkpoint.load_state(a / "state.pt"), checkpoint.load_state(b / "state.pt")
    assert sa["step"] == sb["step"]
    for key in sa["model"]:
        assert torch.equal(sa["model"][key], sb["model"][key]), key
    for opt in ("opt_d", "opt_g"):
        for pid, st in sa[opt]["state"].items():
            for name, value in st.items():
                assert torch.equal(value, sb[opt]["state"][pid][name]), (opt, pid, name)
    ta, tb = checkpoint.read_snapshot(a)[1], checkpoint.read_snapshot(b)[1]
    assert ta.keys() == tb.keys() and all(torch.equal(ta[k], tb[k]) for k in ta)
    timing = {"time_s", "images_per_s"}
    ra = [{k: v for k, v in r.items() if k not in timing} for r in stats_of(a)]
    rb = [{k: v for k, v in r.items() if k not in timing} for r in stats_of(b)]
    assert ra == rb


# ----- the driver (runs in its own process) -------------------------------------------------------------------
def _fork_cli(argv: list[str], log: Path) -> int:
    """Fork a child that runs ``infogan.cli.main(argv)`` with its output in ``log``; return its pid."""
    pid = os.fork()
    if pid == 0:  # child: never returns
        code = 99
        try:
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            from infogan.cli import main

            code = main(argv)
        except BaseException:  # noqa: BLE001 - report anything, then leave without running the parent's atexit
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    return pid


def _wait_for(pid: int, condition, interval: float, timeout: float = 120.0) -> None:
    """Poll ``condition()`` every ``interval`` seconds until it holds; ChildProcessError if the child exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            raise ChildProcessError("exited")
        time.sleep(interval)
    raise TimeoutError("condition not reached")


def _wait_for_kill_moment(pid: int, run: Path, mode: str, rng, *, fresh: bool) -> None:
    """Return at the moment chosen by ``mode`` (ChildProcessError if the child finishes first)."""
    if fresh:  # the run folder must exist before the first kill, or there is nothing to resume
        _wait_for(pid, lambda: (run / "config.json").exists(), 0.002)
    stats = run / "stats.jsonl"
    if mode in ("delay", "early"):  # any moment: start-up, loading, a step, a write
        end = time.monotonic() + rng.uniform(0.0, 0.5 if mode == "delay" else 0.08)
        _wait_for(pid, lambda: time.monotonic() >= end, 0.002)
    elif mode.startswith("."):  # the moment this checkpoint's temporary file appears: inside its write
        _wait_for(pid, lambda: any(p.name.startswith(mode) for p in temp_files(run)), 0.0005)
    elif mode in ("write", "write1"):  # the moment the n-th temporary file appears: inside an atomic write
        nth, seen = (1 if mode == "write1" else rng.randint(1, 6)), set()

        def nth_write() -> bool:
            seen.update(p.name for p in temp_files(run))
            return len(seen) >= nth

        _wait_for(pid, nth_write, 0.0005)
    else:  # a tick was just logged; the sample sheet, snapshot and state writes follow
        size = stats.stat().st_size if stats.exists() else 0
        _wait_for(pid, lambda: stats.exists() and stats.stat().st_size > size, 0.001)
        end = time.monotonic() + rng.uniform(0.0, 0.03)
        _wait_for(pid, lambda: time.monotonic() >= end, 0.001)


def drive(work: Path, seed: int, kills: int, iterations: int) -> dict:
    """Train the tiny model uninterrupted, then again with ``kills`` SIGKILLs and resumes; return findings."""
    import random

    torch.set_num_threads(1)  # no thread pool in the parent before fork; children use one thread too
    sys.path.insert(0, str(HERE))
    from conftest import _build_tiny

    from infogan.models import register

    register("tiny", _build_tiny)
    # import once here what every child would import again (subcommand modules, TensorBoard, PNG writer)
    from torch.utils.tensorboard import SummaryWriter  # noqa: F401

    import infogan.viz
    from infogan.cli import build_parser

    build_parser()
    torch.use_deterministic_algorithms(True, warn_only=True)  # as --deterministic does; imports torch._dynamo
    cfg = infogan.get_preset("fake").replace(
        model={"arch": "tiny"}, train={"iterations": iterations, "batch_size": 8, "tick": 1, "snapshot_every": 1,
                                       "precision": "fp32", "deterministic": True, "seed": 5})
    (work / "tiny.json").write_text(cfg.to_json())
    common = ["--no-eval", "--no-progress"]
    log = work / "children.log"

    pid = _fork_cli(["train", "--config", str(work / "tiny.json"), "--outdir", str(work / "ref"), *common], log)
    if os.waitpid(pid, 0)[1] != 0:
        raise RuntimeError("reference run failed: " + log.read_text()[-2000:])

    rng = random.Random(seed)
    run = work / "killed" / "00000-fake-seed5"
    found = {"kills": 0, "kills_leaving_temp_files": 0, "temp_files_seen": [], "modes": {}, "launches": 0,
             "unreadable_after_kill": [], "resume_notes": [], "snapshot_ahead_of_state": 0}
    while True:
        fresh = not (run / "config.json").exists()
        argv = (["train", "--config", str(work / "tiny.json"), "--outdir", str(work / "killed")] if fresh
                else ["train", "--resume", str(run)]) + common
        done = len(stats_of(run)) if (run / "stats.jsonl").exists() else 0
        pid = _fork_cli(argv, log)
        found["launches"] += 1
        if found["kills"] >= kills:
            if os.waitpid(pid, 0)[1] != 0:
                raise RuntimeError("final resume failed: " + log.read_text()[-2000:])
            break
        left_steps, left_kills = iterations - done, kills - found["kills"]
        # keep enough of the run for the kills still to come: near the end, kill early (little progress)
        mode = rng.choice(["delay", "tick", "write"] if left_steps > left_kills else ["early", "write1"])
        if found["kills"] % 6 in (2, 5) and left_steps > left_kills:  # every third kill: inside a checkpoint write
            mode = ".state.pt." if found["kills"] % 6 == 2 else ".snapshot.safetensors."
        try:
            _wait_for_kill_moment(pid, run, mode, rng, fresh=fresh)
        except ChildProcessError:  # it finished before the kill: the run is complete
            break
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        found["kills"] += 1
        found.setdefault("lives", []).append((mode, done, len(stats_of(run)) if (run / "stats.jsonl").exists() else 0))
        found["modes"][mode] = found["modes"].get(mode, 0) + 1
        left = temp_files(run)
        found["kills_leaving_temp_files"] += bool(left)
        found["temp_files_seen"] += sorted({p.name.split(".")[1] + "." + p.name.split(".")[2] for p in left})
        # the invariant after every kill: the newest state and the snapshot are complete and loadable
        try:
            _, state, problems = checkpoint.latest_state(run)
            if problems:
                found["unreadable_after_kill"].append(problems)
            if (run / "snapshot.safetensors").exists():
                snapshot_step = checkpoint.read_snapshot(run)[2]
                found["snapshot_ahead_of_state"] += snapshot_step > (state["step"] if state else 0)
        except Exception as exc:  # noqa: BLE001 - recorded and asserted on by the test
            found["unreadable_after_kill"].append(repr(exc))
    import resource

    found["cpu_s"] = {who: round(resource.getrusage(w).ru_utime + resource.getrusage(w).ru_stime, 1)
                      for who, w in (("driver", resource.RUSAGE_SELF), ("children", resource.RUSAGE_CHILDREN))}
    found["resume_notes"] = [line for line in log.read_text().splitlines() if line.startswith("resuming")]
    found["log_errors"] = [line for line in log.read_text().splitlines()
                           if "Traceback" in line or "error" in line.lower()]
    return found


# ----- the tests -----------------------------------------------------------------------------------------------
def test_sigkill_at_random_moments_then_resume_is_bit_identical(tmp_path):
    res = subprocess.run([sys.executable, __file__, str(tmp_path), "7", str(KILLS), str(DRIVER_ITERATIONS)],
                         capture_output=True, text=True, timeout=600, check=False, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-3000:]
    found = json.loads(res.stdout.splitlines()[-1])
    assert found["kills"] >= 20, found
    assert found["unreadable_after_kill"] == [], found["unreadable_after_kill"]
    assert found["log_errors"] == [], found["log_errors"]
    # kills landed inside both checkpoint writes (their temporary files were left behind)
    assert {"state.pt", "snapshot.safetensors"} <= set(found["temp_files_seen"]), found
    ref, run = tmp_path / "ref" / "00000-fake-seed5", tmp_path / "killed" / "00000-fake-seed5"
    assert [r["step"] for r in stats_of(run)] == list(range(1, DRIVER_ITERATIONS + 1))  # each step exactly once
    assert_same_training(ref, run)
    assert temp_files(run) == []
    for step in range(1, DRIVER_ITERATIONS + 1):  # every sample sheet is whole and the same as uninterrupted
        name = f"samples/fakes{step:07d}.png"
        assert (run / name).read_bytes() == (ref / name).read_bytes(), name
    (tmp_path / "summary.json").write_text(json.dumps(found, indent=1))
    left = {name: found["temp_files_seen"].count(name) for name in sorted(set(found["temp_files_seen"]))}
    print(json.dumps({**{k: found[k] for k in ("kills", "kills_leaving_temp_files", "snapshot_ahead_of_state",
                                               "modes", "launches", "cpu_s")}, "interrupted_writes": left}))


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "infogan", "train", *args]


# states only when stopped and at the end (the MNIST networks' state is ~160 MB): the signal path is under test
REAL = ["--preset", "fake", "--iterations", "5", "--tick", "1", "--snapshot-every", "5", "--batch-size", "8",
        "--deterministic", "--precision", "fp32", "--no-eval", "--no-progress"]


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def _poll(proc: subprocess.Popen, condition, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


@pytest.mark.slow
def test_real_cli_sigterm_and_sigint_stop_gracefully(tmp_path, capsys):
    """``python -m infogan train --preset fake``: SIGTERM and SIGINT stop the run after writing a state at the
    current step (exit 0); the resumed run has every step once and equals an uninterrupted one bitwise."""
    run = tmp_path / "runs" / "00000-fake-seed0"
    stats = run / "stats.jsonl"
    for sig, argv in ((signal.SIGTERM, _cli(*REAL, "--outdir", str(tmp_path / "runs"))),
                      (signal.SIGINT, _cli("--resume", str(run), "--no-eval", "--no-progress"))):
        start = _lines(stats)
        proc = _start(argv, tmp_path)
        _poll(proc, lambda start=start: _lines(stats) > start)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        assert "Traceback" not in err
        step = checkpoint.load_state(run / "state.pt")["step"]
        assert f"stopped at step {step}; continue with: infogan train --resume {run}" in out and step < 5
        assert infogan.load(run).step == step
    # the last resume in this process: the same command, without another interpreter start-up
    from infogan.cli import main

    assert main(["train", "--resume", str(run), "--no-eval", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"resuming {run} from step {step} (state.pt)" in out and "(step 5)" in out
    assert [r["step"] for r in stats_of(run)] == [1, 2, 3, 4, 5]
    # the same run uninterrupted, in this process (one thread, deterministic, the same fake data)
    cfg = infogan.get_preset("fake").replace(train={"iterations": 5, "tick": 1, "snapshot_every": 5,
                                                    "deterministic": True, "precision": "fp32"})
    ref = infogan.train(cfg, outdir=tmp_path / "ref", progress=False)
    assert_same_training(ref.run_dir, run)


# ----- resume edge cases (in process, tiny architecture) -------------------------------------------------------
def _train(cfg, outdir, data, **kw):
    return infogan.train(cfg, outdir=outdir, data=data, progress=False, **kw)


def test_snapshot_newer_than_state_is_explained_and_consistent(tmp_path, tiny_arch_config, fake_data, capsys):
    full = _train(tiny_arch_config, tmp_path / "a", fake_data)
    run = _train(tiny_arch_config, tmp_path / "b", fake_data).run_dir
    # as if killed between the snapshot write (step 4) and the state write: the state is still step 2's
    os.replace(run / "state.prev.pt", run / "state.pt")
    capsys.readouterr()
    res = infogan.train(resume=run, data=fake_data, progress=False)
    out = capsys.readouterr().out
    assert "from step 2 (state.pt; snapshot.safetensors is at step 4, newer than the newest complete state" in out
    assert res.step == 4
    assert_same_training(full.run_dir, run)


def test_unreadable_state_falls_back_to_previous(tmp_path, tiny_arch_config, fake_data, capsys):
    full = _train(tiny_arch_config, tmp_path / "a", fake_data)
    run = _train(tiny_arch_config, tmp_path / "b", fake_data).run_dir
    data = (run / "state.pt").read_bytes()
    (run / "state.pt").write_bytes(data[: len(data) // 2])  # e.g. a copy cut short
    capsys.readouterr()
    infogan.train(resume=run, data=fake_data, progress=False)
    out = capsys.readouterr().out
    assert "from step 2 (skipped" in out and "state.prev.pt" in out
    assert_same_training(full.run_dir, run)


def test_resume_before_any_state_starts_again(tmp_path, tiny_arch_config, fake_data, capsys):
    full = _train(tiny_arch_config, tmp_path / "a", fake_data)
    run = _train(tiny_arch_config, tmp_path / "b", fake_data).run_dir
    for name in ("state.pt", "state.prev.pt", "snapshot.safetensors"):
        (run / name).unlink()
    (run / "stats.jsonl").write_text('{"step": 2}\n{"step": 4, "cut')
    (run / ".state.pt.abc123.tmp").write_bytes(b"half")  # left by a kill inside a write
    capsys.readouterr()
    infogan.train(resume=run, data=fake_data, progress=False)
    assert "from step 0 (no resume state was written yet" in capsys.readouterr().out
    assert_same_training(full.run_dir, run)
    assert temp_files(run) == []


def test_a_second_writer_is_refused(tmp_path, tiny_arch_config, fake_data):
    from infogan.runs import lock_run

    run = _train(tiny_arch_config, tmp_path, fake_data).run_dir
    before = (run / "state.pt").read_bytes()
    with lock_run(run), pytest.raises(TrainingError, match=f"being trained by another process \\(pid {os.getpid()}"):
        infogan.train(resume=run, iterations=6, data=fake_data, progress=False)
    assert (run / "state.pt").read_bytes() == before


# ----- full disk, unwritable folders ---------------------------------------------------------------------------
def _snapshot_files(run: Path) -> dict[str, bytes]:
    return {n: (run / n).read_bytes() for n in ("snapshot.safetensors", "state.pt", "state.prev.pt", "stats.jsonl")}


@pytest.mark.parametrize("target", ["state", "snapshot"])
def test_disk_full_during_a_save_keeps_the_previous_files(tmp_path, tiny_arch_config, fake_data, monkeypatch, target):
    import errno

    from infogan.training import Trainer

    run = _train(tiny_arch_config, tmp_path, fake_data).run_dir
    before = _snapshot_files(run)

    def full_disk(obj, f, *a, **k):  # write part of the file, then fail as a full disk does
        (f.write if hasattr(f, "write") else Path(f).write_bytes)(b"\0" * 1000)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint.torch if target == "state" else checkpoint, "save" if target == "state"
                        else "save_file", full_disk)
    trainer = Trainer(tiny_arch_config.replace(train={"iterations": 6}), run, fake_data, resume=True, progress=False)
    trainer.step = 5
    with pytest.raises(TrainingError, match="No space left on device.*previous version.*intact"):
        trainer.save()
    monkeypatch.undo()
    assert temp_files(run) == []
    after = _snapshot_files(run)
    if target == "state":  # the snapshot before it was written; state.pt and state.prev.pt are untouched
        assert {k: v for k, v in after.items() if k != "snapshot.safetensors"} == \
            {k: v for k, v in before.items() if k != "snapshot.safetensors"}
    else:
        assert after == before
    assert checkpoint.load_state(run / "state.pt")["step"] == 4 and infogan.load(run).step == (5 if target == "state" else 4)


def test_disk_full_during_a_stats_line_leaves_no_partial_line(tmp_path, monkeypatch):
    import errno

    from infogan.io import append_jsonl, read_jsonl

    path = tmp_path / "stats.jsonl"
    append_jsonl(path, {"step": 1})
    path.write_bytes(path.read_bytes() + b'{"step": 2, "cu')  # a line cut by an earlier crash
    real_fsync = os.fsync

    def fail(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(TrainingError, match="No space left"):
        append_jsonl(path, {"step": 3})
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert path.read_bytes() == b'{"step": 1}\n'  # the failed line is gone, so is the cut one
    append_jsonl(path, {"step": 3})
    assert read_jsonl(path) == [{"step": 1}, {"step": 3}]


def test_too_little_free_space_fails_before_training(tmp_path, tiny_arch_config, fake_data, monkeypatch):
    import shutil

    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(TrainingError, match=r"only 0.0 MiB free in .* need about"):
        _train(tiny_arch_config, tmp_path, fake_data)
    run = next(tmp_path.iterdir())
    assert sorted(p.name for p in run.iterdir()) == [".lock", "config.json"]  # nothing half-written


def test_unwritable_output_folder_is_one_clear_error(tmp_path, capsys):
    from infogan.cli import main

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    for outdir in (blocker, blocker / "runs"):
        assert main(["train", "--preset", "fake", "--outdir", str(outdir), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("infogan: error: cannot create the output folder") and "Traceback" not in err
    if os.geteuid() != 0:  # root writes anywhere, so a read-only folder only bites other users
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        assert main(["train", "--preset", "fake", "--outdir", str(ro), "--no-progress"]) == 2
        assert "not writable" in capsys.readouterr().err


@pytest.mark.slow
def test_file_size_limit_fails_at_the_write_with_one_line(tmp_path):
    """A real OS write failure (RLIMIT_FSIZE: writes past 8 MB fail with EFBIG, as a full disk does)."""
    import resource

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write() instead of killing the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (8 << 20, 8 << 20))

    res = subprocess.run(_cli(*REAL, "--snapshot-every", "1", "--outdir", str(tmp_path / "runs")), cwd=tmp_path,
                         capture_output=True,
                         text=True, timeout=300, check=False, preexec_fn=limit, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith("infogan: error: cannot write") and "File too large" in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
    run = tmp_path / "runs" / "00000-fake-seed0"
    assert temp_files(run) == [] and not (run / "snapshot.safetensors").exists()


if __name__ == "__main__":  # the SIGKILL driver (see the module docstring)
    work_dir, seed_arg, kills_arg, iterations_arg = sys.argv[1:5]
    print(json.dumps(drive(Path(work_dir), int(seed_arg), int(kills_arg), int(iterations_arg))))
