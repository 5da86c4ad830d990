"""Run-folder helpers shared by the fault-injection tests (test_faults.py, test_storage_faults.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

import infogan
from infogan import snapshot
from infogan.storage import TEMP_SUFFIX
from infogan.training import state as resume_state


def temp_files(run: Path) -> list[Path]:
    """Temporary files of interrupted atomic writes in a run folder and its samples folder."""
    return [p for folder in (run, run / "samples") if folder.is_dir() for p in folder.iterdir()
            if p.name.startswith(".") and p.name.endswith(TEMP_SUFFIX)]


def stats_of(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]


def assert_same_training(a: Path, b: Path) -> None:
    """Two run folders hold bitwise-equal final states, snapshots and per-step stats (times aside)."""
    sa, sb = resume_state.load_state(a / "state.pt"), resume_state.load_state(b / "state.pt")
    assert sa.step == sb.step
    for key in sa.model:
        assert torch.equal(sa.model[key], sb.model[key]), key
    for opt in ("opt_d", "opt_g"):
        for pid, st in getattr(sa, opt)["state"].items():
            for name, value in st.items():
                assert torch.equal(value, getattr(sb, opt)["state"][pid][name]), (opt, pid, name)
    ta, tb = snapshot.read_snapshot(a)[1], snapshot.read_snapshot(b)[1]
    assert ta.keys() == tb.keys() and all(torch.equal(ta[k], tb[k]) for k in ta)
    timing = {"time_s", "images_per_s"}
    ra = [{k: v for k, v in r.items() if k not in timing} for r in stats_of(a)]
    rb = [{k: v for k, v in r.items() if k not in timing} for r in stats_of(b)]
    assert ra == rb


def train_quiet(cfg, outdir, data, **kw):
    """``infogan.train`` without a progress bar."""
    return infogan.train(cfg, outdir=outdir, data=data, progress=False, **kw)


def cli(*args: str) -> list[str]:
    """The argv of ``python -m infogan train ARGS``."""
    return [sys.executable, "-m", "infogan", "train", *args]


# states only when stopped and at the end (the MNIST networks' state is ~160 MB): the signal path is under test
REAL = ["--preset", "fake", "--iterations", "5", "--tick", "1", "--snapshot-every", "5", "--batch-size", "8",
        "--deterministic", "--precision", "fp32", "--no-eval", "--no-progress"]
