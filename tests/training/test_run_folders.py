"""A run folder someone hands over is data: links inside it never make infogan write, truncate or delete
anything outside it (each case checks that the file outside is byte-identical afterwards), non-regular files
are refused in one line, a resume state from another run is refused, flags a resume cannot apply are refused,
and a failed start leaves no empty run folder behind."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch
from hostile import copy_run, one_line_error, resume_argv, train_tiny

import infogan
from infogan.errors import ConfigError, InfoGANError

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def outside(tmp_path) -> Path:
    """A folder outside the run holding a file that must stay byte-identical."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "precious.txt").write_bytes(b"precious data\n" * 100)
    return folder


def _snapshot_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


# ----- links inside a run folder -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [".lock", "stats.jsonl", "state.pt", "snapshot.safetensors", "config.json",
                                  "metric-info_bound_10k.jsonl", "events.out.tfevents.1.host.1.0", "machine.json"])
def test_a_file_of_the_run_that_is_a_link_is_refused_on_resume(tmp_path, hostile_run, outside, capsys, name):
    run = copy_run(hostile_run, tmp_path)
    target = outside / "precious.txt"
    if (run / name).exists():
        shutil.copyfile(run / name, target)  # a real copy outside: reading through the link would work
    (run / name).unlink(missing_ok=True)
    os.symlink(target, run / name)
    before = _snapshot_of(outside)
    one_line_error(capsys, resume_argv(run), f"{run / name} is a symbolic link (to {target})")
    assert _snapshot_of(outside) == before


def test_a_dangling_stats_link_creates_nothing_outside(tmp_path, hostile_run, outside, capsys):
    run = copy_run(hostile_run, tmp_path)
    (run / "stats.jsonl").unlink()
    os.symlink(outside / "new.jsonl", run / "stats.jsonl")  # appending through it would create the file
    one_line_error(capsys, resume_argv(run), "stats.jsonl is a symbolic link")
    assert not (outside / "new.jsonl").exists()


def test_a_linked_samples_folder_is_neither_written_nor_cleaned(tmp_path, hostile_run, outside, capsys):
    run = copy_run(hostile_run, tmp_path)
    (outside / ".fakes0000006.png.abcd.tmp").write_bytes(b"not a leftover of ours")
    shutil.rmtree(run / "samples")
    os.symlink(outside, run / "samples")
    before = _snapshot_of(outside)
    one_line_error(capsys, resume_argv(run), f"{run / 'samples'} is a symbolic link")
    assert _snapshot_of(outside) == before  # the temporary-looking file outside is still there, no PNG added


def test_temporary_file_clean_up_stays_inside_the_run(tmp_path, outside):
    from infogan.storage import remove_temporary_files

    run = tmp_path / "run"
    run.mkdir()
    (outside / ".state.pt.x1.tmp").write_bytes(b"outside")
    os.symlink(outside, run / "samples")
    os.symlink(outside / ".state.pt.x1.tmp", run / ".state.pt.x2.tmp")  # a link is not a leftover either
    (run / ".state.pt.x3.tmp").write_bytes(b"ours")
    before = _snapshot_of(outside)
    with pytest.raises(InfoGANError, match="is a symbolic link"):
        remove_temporary_files(run / "samples", root=run)
    assert remove_temporary_files(run, root=run) == [run / ".state.pt.x3.tmp"]
    assert _snapshot_of(outside) == before and (run / ".state.pt.x2.tmp").is_symlink()


@pytest.mark.parametrize("command, folder", [(["traverse"], "traversals"), (["sample"], "samples"),
                                             (["export", "--format", "torchscript"], "export")])
def test_a_linked_output_folder_of_the_run_is_refused(tmp_path, hostile_run, outside, capsys, command, folder):
    run = copy_run(hostile_run, tmp_path)
    shutil.rmtree(run / folder, ignore_errors=True)
    os.symlink(outside, run / folder)
    before = _snapshot_of(outside)
    one_line_error(capsys, [command[0], str(run), *command[1:]], f"{run / folder} is a symbolic link")
    assert _snapshot_of(outside) == before


def test_a_linked_metric_file_is_not_appended_to(tmp_path, hostile_run, outside, capsys):
    run = copy_run(hostile_run, tmp_path)
    os.symlink(outside / "precious.txt", run / "metric-info_bound_n100.jsonl")
    before = _snapshot_of(outside)
    one_line_error(capsys, ["eval", str(run), "--metrics", "info", "--samples", "100"],
                   "metric-info_bound_n100.jsonl is a symbolic link")
    assert _snapshot_of(outside) == before


def test_a_linked_machine_file_is_neither_read_nor_replaced(tmp_path, outside):
    from infogan.reproduce.run import _record_session

    run = tmp_path / "run"
    run.mkdir()
    (outside / "precious.txt").write_text("[not json")
    os.symlink(outside / "precious.txt", run / "machine.json")
    before = _snapshot_of(outside)
    with pytest.raises(InfoGANError, match="machine.json is a symbolic link"):
        _record_session(run, 0, 4, 1.0)
    assert _snapshot_of(outside) == before and (run / "machine.json").is_symlink()


@pytest.mark.parametrize("kind", ["fifo", "link", "folder"])
def test_an_output_file_that_is_not_a_regular_file_is_refused(tmp_path, hostile_run, outside, capsys, kind):
    out = tmp_path / "grid.png"
    if kind == "fifo":
        os.mkfifo(out)
    elif kind == "link":
        os.symlink(outside / "precious.txt", out)
    else:
        out.mkdir()
    before = _snapshot_of(outside)
    what = {"fifo": "a FIFO", "link": "a symbolic link", "folder": "a folder"}[kind]
    one_line_error(capsys, ["sample", str(hostile_run), "--out", str(out)], f"{out} is {what}")
    assert _snapshot_of(outside) == before
    assert {"fifo": out.is_fifo, "link": out.is_symlink, "folder": out.is_dir}[kind]()


def test_no_write_leaves_the_run_folder(tmp_path):
    from infogan.storage import atomic_write_text

    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(InfoGANError, match="is outside the run folder"):
        atomic_write_text(run / ".." / "escaped.txt", "x", root=run)
    assert not (tmp_path / "escaped.txt").exists()


def test_a_symlinked_run_folder_given_by_the_user_is_fine(tmp_path, hostile_run, capsys):
    run = copy_run(hostile_run, tmp_path)
    link = tmp_path / "the-run"
    os.symlink(run, link)
    assert infogan.train(resume=link, progress=False, iterations=6).step == 6
    assert (run / "samples" / "fakes0000006.png").is_file()
    assert all(p.is_file() and not p.is_symlink() for p in run.glob("events.out.tfevents.*"))


# ----- resume states and flags -----------------------------------------------------------------------------------
def test_a_state_from_another_run_is_refused_naming_both(tmp_path, hostile_run, capsys):
    run = copy_run(hostile_run, tmp_path)
    other = train_tiny(tmp_path / "other", seed=7)
    shutil.copyfile(other / "state.pt", run / "state.pt")
    snapshot_before = (run / "snapshot.safetensors").read_bytes()
    err = one_line_error(capsys, resume_argv(run), f"{run / 'state.pt'} belongs to another run")
    assert f"{run / 'config.json'}" in err and "train.seed 0 -> 7" in err
    assert (run / "snapshot.safetensors").read_bytes() == snapshot_before  # the run's own weights are kept


def test_a_state_that_differs_in_execution_fields_and_iterations_only_resumes(tmp_path, hostile_run, capsys):
    run = copy_run(hostile_run, tmp_path)
    state = torch.load(run / "state.pt", weights_only=True)
    state["config"] = infogan.RunConfig.from_json(state["config"]).replace(
        train={"iterations": 5, "device": "cpu", "compile": False, "precision": "auto", "deterministic": False},
        data={"data_dir": str(tmp_path)}).to_json()
    torch.save(state, run / "state.pt")
    assert infogan.train(resume=run, progress=False, iterations=6).step == 6


@pytest.mark.parametrize("flags", [["--latent", "noise62,cat10"], ["--batch-size", "16"], ["--lr-d", "0.001"],
                                   ["--preset", "mnist"], ["--set", "optim.g_steps=2"], ["--baseline"],
                                   ["--outdir", "elsewhere"], ["--device", "cpu"]])
def test_flags_a_resume_cannot_apply_are_refused(tmp_path, hostile_run, capsys, flags):
    run = copy_run(hostile_run, tmp_path)
    before = (run / "state.pt").read_bytes()
    one_line_error(capsys, resume_argv(run, *flags), f"{flags[0]} cannot apply to --resume")
    assert (run / "state.pt").read_bytes() == before


def test_resume_iterations_below_the_step_are_refused(tmp_path, hostile_run, capsys):
    run = copy_run(hostile_run, tmp_path)
    one_line_error(capsys, ["train", "--resume", str(run), "--iterations", "3"],
                   "--iterations 3 is below step 4, which")


def test_resume_dry_run_prints_the_resumed_config(tmp_path, hostile_run, capsys):
    run = copy_run(hostile_run, tmp_path)
    assert infogan.cli.main(["train", "--resume", str(run), "--iterations", "9", "--dry-run"]) == 0
    assert infogan.RunConfig.from_json(capsys.readouterr().out).train.iterations == 9
    assert not (run / "samples" / "fakes0000006.png").exists()


# ----- failed starts -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("change, message", [
    ({"model": {"image_shape": (1, 30, 30), "arch": "mnist"}}, "handles 28 x 28 images only"),
    ({"model": {"latent": infogan.parse_latent("noise62")}}, "has no codes"),
])
def test_a_failed_start_removes_the_folder_it_created_and_only_that(tmp_path, change, message):
    cfg = infogan.get_preset("fake").replace(train={"iterations": 2, "tick": 1, "snapshot_every": 1}, **change)
    (tmp_path / "00000-earlier").mkdir()
    (tmp_path / "00000-earlier" / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match=message):
        infogan.train(cfg, outdir=tmp_path, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00000-earlier"]


def test_a_failed_resume_keeps_the_run_folder(tmp_path, hostile_run, capsys):
    run = copy_run(hostile_run, tmp_path)
    (run / "state.pt").write_bytes(b"garbage")
    one_line_error(capsys, resume_argv(run), "it was refused")
    assert (run / "config.json").is_file() and (run / "snapshot.safetensors").is_file()
