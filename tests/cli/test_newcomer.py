"""What a newcomer meets first: eval --list without a run, the schedules in train --help, the images-seen line
of --dry-run, and the animated traversal of a continuous code."""

from __future__ import annotations

import pytest
from PIL import Image

import infogan
from infogan.cli.main import main


def test_eval_list_needs_no_run_and_eval_without_one_says_what_is_missing(capsys):
    assert main(["eval", "--list"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("code_acc") and "fid" in out
    assert main(["eval"]) == 2
    assert "infogan eval needs a run folder" in capsys.readouterr().err


def test_train_help_states_every_default_schedule(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    for name in infogan.PRESETS:
        t = infogan.get_preset(name).train
        assert f"{t.iterations:,} x {t.batch_size} = {t.iterations * t.batch_size:,} images" in out, name
    assert "mnist-consistent cpu: 3,000 x 64 = 192,000 images" in out and "measured: 28 min" in out


def test_dry_run_prints_the_images_seen(capsys):
    assert main(["train", "--preset", "mnist-consistent", "--batch-size", "128", "--dry-run"]) == 0
    assert "3,000 iterations x 128 = 384,000 images seen" in capsys.readouterr().err


def test_animated_traversal_of_each_continuous_code(tiny_trained_run, tmp_path):
    paths = infogan.write_traversals(tiny_trained_run, outdir=tmp_path, gif=True, frames=6, scale=1)
    assert [p.name for p in paths] == ["traverse-c1.png", "traverse-c2.png", "traverse-c2.gif", "traverse-c3.png",
                                       "traverse-c3.gif"]  # the categorical c1 has a sheet, no animation
    with Image.open(tmp_path / "traverse-c2.gif") as gif:
        assert gif.n_frames == 2 * 6 - 2 and gif.info["loop"] == 0  # there and back, looping
        assert gif.size == (5 * 29 + 1, 2 * 29 + 1)  # the 10 categories of c1, five to a row
    from infogan.inference.viz import traversal_frames

    with pytest.raises(ValueError, match="continuous"):
        traversal_frames(infogan.load(tiny_trained_run), 0)
