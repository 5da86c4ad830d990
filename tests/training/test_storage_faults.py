"""Storage faults: resuming from odd run folders (a snapshot newer than the state, an unreadable state, no state
yet, a second writer), a full disk during each kind of write, too little free space, an unwritable folder and a
file-size limit: each fails with one clear error and leaves the previous files intact and no temporary files.
Kills and signals: test_faults.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
import torch
from run_folders import REAL, assert_same_training, cli, temp_files, train_quiet

import infogan
from infogan import snapshot
from infogan.errors import TrainingError
from infogan.storage import atomic_path
from infogan.training import state as resume_state


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)  # tiny models: a second thread only adds synchronisation
    yield


# ----- resume edge cases (in process, tiny architecture) -------------------------------------------------------
def test_snapshot_newer_than_state_is_explained_and_consistent(tmp_path, tiny_arch_config, fake_data, capsys):
    full = train_quiet(tiny_arch_config, tmp_path / "a", fake_data)
    run = train_quiet(tiny_arch_config, tmp_path / "b", fake_data).run_dir
    # as if killed between the snapshot write (step 4) and the state write: the state is still step 2's
    os.replace(run / "state.prev.pt", run / "state.pt")
    capsys.readouterr()
    res = infogan.train(resume=run, data=fake_data, progress=False)
    out = capsys.readouterr().out
    assert "from step 2 (state.pt; snapshot.safetensors is at step 4, newer than the newest complete state" in out
    assert res.step == 4
    assert_same_training(full.run_dir, run)


def test_unreadable_state_falls_back_to_previous(tmp_path, tiny_arch_config, fake_data, capsys):
    full = train_quiet(tiny_arch_config, tmp_path / "a", fake_data)
    run = train_quiet(tiny_arch_config, tmp_path / "b", fake_data).run_dir
    data = (run / "state.pt").read_bytes()
    (run / "state.pt").write_bytes(data[: len(data) // 2])  # e.g. a copy cut short
    capsys.readouterr()
    infogan.train(resume=run, data=fake_data, progress=False)
    out = capsys.readouterr().out
    assert "from step 2 (skipped" in out and "state.prev.pt" in out
    assert_same_training(full.run_dir, run)


def test_resume_before_any_state_starts_again(tmp_path, tiny_arch_config, fake_data, capsys):
    full = train_quiet(tiny_arch_config, tmp_path / "a", fake_data)
    run = train_quiet(tiny_arch_config, tmp_path / "b", fake_data).run_dir
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
    from infogan.training.rundir import lock_run

    run = train_quiet(tiny_arch_config, tmp_path, fake_data).run_dir
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

    run = train_quiet(tiny_arch_config, tmp_path, fake_data).run_dir
    before = _snapshot_files(run)

    def full_disk(obj, f, *a, **k):  # write part of the file, then fail as a full disk does
        (f.write if hasattr(f, "write") else Path(f).write_bytes)(b"\0" * 1000)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(resume_state.torch if target == "state" else snapshot, "save" if target == "state"
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
    assert resume_state.load_state(run / "state.pt").step == 4 and infogan.load(run).step == (5 if target == "state" else 4)


def test_disk_full_during_a_stats_line_leaves_no_partial_line(tmp_path, monkeypatch):
    import errno

    from infogan.storage import append_jsonl, read_jsonl

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
        train_quiet(tiny_arch_config, tmp_path, fake_data)
    assert list(tmp_path.iterdir()) == []  # the run folder made for the failed start is removed again


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

    res = subprocess.run(cli(*REAL, "--snapshot-every", "1", "--outdir", str(tmp_path / "runs")), cwd=tmp_path,
                         capture_output=True,
                         text=True, timeout=300, check=False, preexec_fn=limit, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith("infogan: error: cannot write") and "File too large" in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
    run = tmp_path / "runs" / "00000-fake-seed0"
    assert temp_files(run) == [] and not (run / "snapshot.safetensors").exists()


def test_a_write_cut_after_keeping_the_previous_version_leaves_no_temporary_file(tmp_path):
    # a SIGKILL between keeping state.prev.pt (a hard link) and the rename leaves both names on one file;
    # the next write must keep it and leave nothing behind (rename() between two links is a no-op)
    path, keep = tmp_path / "state.pt", tmp_path / "state.prev.pt"
    path.write_bytes(b"v1")
    os.link(path, keep)
    for version in (b"v2", b"v3"):
        with atomic_path(path, keep=keep) as tmp:
            tmp.write_bytes(version)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["state.prev.pt", "state.pt"]
    assert path.read_bytes() == b"v3" and keep.read_bytes() == b"v2"
