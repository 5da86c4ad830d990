"""Fault injection: runs killed with SIGKILL at random moments (also inside checkpoint writes) and resumed each
time end bit-identical to an uninterrupted run; SIGTERM/SIGINT stop gracefully. Full disks, unwritable folders
and odd run folders on resume: test_storage_faults.py; non-finite values: test_non_finite.py.

The SIGKILL test drives the real CLI (``infogan.cli.main(["train", ...])``) in processes forked from one
long-lived driver (``python tests/training/test_faults.py WORKDIR SEED KILLS ITERATIONS``), so that 20+ kills cost no
interpreter start-up each; the driver writes its findings as JSON and the test checks them.
"""

from __future__ import annotations

import functools
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
from infogan import snapshot
from infogan.training import state as resume_state

TESTS = Path(__file__).resolve().parents[1]  # conftest.py and run_folders.py, also when run as the driver script
sys.path.insert(0, str(TESTS))
from run_folders import REAL, assert_same_training, cli, stats_of, temp_files  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)  # tiny models: a second thread only adds synchronisation (and waits on a busy CPU)
    yield


KILLS = 24  # SIGKILLs in the driven run
DRIVER_ITERATIONS = 40


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


def _last_logged_step(stats: Path) -> int:
    """The step of the last complete line of ``stats.jsonl`` (0 if none); re-read only when its size changes."""
    return _logged_step_at(stats, stats.stat().st_size if stats.exists() else 0)


@functools.lru_cache(maxsize=None)
def _logged_step_at(stats: Path, size: int) -> int:
    lines = stats.read_bytes().split(b"\n")[:-1] if size else []
    return json.loads(lines[-1])["step"] if lines else 0


def _wait_for_kill_moment(pid: int, run: Path, mode: str, rng, *, fresh: bool, latest: int) -> None:
    """Return at the moment chosen by ``mode``, or at the latest when step ``latest`` is logged (so that a fast
    machine cannot finish the run before the kills still to come); ChildProcessError if the child finishes first."""
    if fresh:  # the run folder must exist before the first kill, or there is nothing to resume
        _wait_for(pid, lambda: (run / "config.json").exists(), 0.002)
    stats = run / "stats.jsonl"

    def until(condition, interval: float) -> None:  # ``_wait_for``, cut short once step ``latest`` is logged
        _wait_for(pid, lambda: condition() or _last_logged_step(stats) >= latest, interval)

    if mode == "delay":  # any moment: start-up, loading, a step, a write
        end = time.monotonic() + rng.uniform(0.0, 0.5)
        until(lambda: time.monotonic() >= end, 0.002)
    elif mode.startswith("."):  # the moment this checkpoint's temporary file appears: inside its write
        until(lambda: any(p.name.startswith(mode) for p in temp_files(run)), 0.0005)
    elif mode == "write":  # the moment the n-th temporary file appears: inside an atomic write
        nth, seen = rng.randint(1, 6), set()

        def nth_write() -> bool:
            seen.update(p.name for p in temp_files(run))
            return len(seen) >= nth

        until(nth_write, 0.0005)
    else:  # a tick was just logged; the sample sheet, snapshot and state writes follow
        size = stats.stat().st_size if stats.exists() else 0
        until(lambda: stats.exists() and stats.stat().st_size > size, 0.001)
        end = time.monotonic() + rng.uniform(0.0, 0.03)
        until(lambda: time.monotonic() >= end, 0.001)


def drive(work: Path, seed: int, kills: int, iterations: int) -> dict:
    """Train the tiny model uninterrupted, then again with ``kills`` SIGKILLs and resumes; return findings."""
    import random

    torch.set_num_threads(1)  # no thread pool in the parent before fork; children use one thread too
    from conftest import _build_tiny

    from infogan.models import register

    register("tiny", _build_tiny)
    # import once here what every child would import again (subcommand modules, TensorBoard, PNG writer)
    from torch.utils.tensorboard import SummaryWriter  # noqa: F401

    import infogan.inference.viz
    from infogan.cli.main import build_parser

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
    state_step = 0  # the step of the newest loadable state
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
        # steps this life may add at most: never more than leaves one step per kill to come (the state then
        # stands at most ``budget`` steps further; a kill at the tick of step state+budget+1 precedes its write)
        budget = max(1, (iterations - state_step - 1) // (kills - found["kills"]))
        mode = rng.choice(["delay", "tick", "write"])
        if found["kills"] % 6 in (2, 5):  # every third kill: inside a checkpoint write
            mode = ".state.pt." if found["kills"] % 6 == 2 else ".snapshot.safetensors."
        try:
            _wait_for_kill_moment(pid, run, mode, rng, fresh=fresh, latest=state_step + budget + 1)
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
            _, state, problems = resume_state.latest_state(run)
            state_step = state.step if state else 0
            if problems:
                found["unreadable_after_kill"].append(problems)
            if (run / "snapshot.safetensors").exists():
                snapshot_step = snapshot.read_snapshot(run)[2]
                found["snapshot_ahead_of_state"] += snapshot_step > (state.step if state else 0)
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
def test_sigkill_at_random_moments_then_resume_is_bit_identical(tmp_path, tiny_arch):  # tiny_arch: to load the runs here
    res = subprocess.run([sys.executable, __file__, str(tmp_path), "7", str(KILLS), str(DRIVER_ITERATIONS)],
                         capture_output=True, text=True, timeout=600, check=False, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-3000:]
    found = json.loads(res.stdout.splitlines()[-1])
    assert found["kills"] == KILLS, found  # the step budget per life leaves room for every kill
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
    for sig, argv in ((signal.SIGTERM, cli(*REAL, "--outdir", str(tmp_path / "runs"))),
                      (signal.SIGINT, cli("--resume", str(run), "--no-eval", "--no-progress"))):
        start = _lines(stats)
        proc = _start(argv, tmp_path)
        _poll(proc, lambda start=start: _lines(stats) > start)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        assert "Traceback" not in err
        step = resume_state.load_state(run / "state.pt").step
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


if __name__ == "__main__":  # the SIGKILL driver (see the module docstring)
    work_dir, seed_arg, kills_arg, iterations_arg = sys.argv[1:5]
    print(json.dumps(drive(Path(work_dir), int(seed_arg), int(kills_arg), int(iterations_arg))))
