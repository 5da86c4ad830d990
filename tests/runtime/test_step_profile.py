"""benchmarks/step_profile.py: its per-operator accounting adds up (no timing assertions)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from common import count_flops
from step_profile import HEAVY, build_trainer, profile


def args(**over) -> argparse.Namespace:
    base = {"preset": "fake", "batch_size": 8, "precision": "fp32", "steps": 2, "threads": None, "device": "cpu"}
    return argparse.Namespace(**{**base, **over})


def test_operator_flops_add_up_to_the_flop_counter_total():
    """The per-operator FLOPs of a profiled step sum to what FlopCounterMode counts for one step."""
    torch.manual_seed(0)
    result = profile(args())
    trainer, _ = build_trainer("fake", 8, "cpu", "fp32")
    expected = count_flops(trainer.train_step) / 1e9
    assert expected > 0
    assert abs(result["gflop_per_step"] - expected) <= 1e-3 * expected + 1e-4
    # the groups partition the operators: times and FLOPs agree with the rows
    assert abs(sum(g["share"] for g in result["groups"]) - 1.0) < 0.01
    assert abs(sum(g["gflop_per_step"] for g in result["groups"]) - result["gflop_per_step"]) < 1e-2
    assert {g["group"] for g in result["groups"]} <= set(HEAVY) | {"other"}
    # FLOPs only come from matmuls and convolutions
    assert all(r["gflop_per_step"] == 0 for r in result["ops"] if r["op"] not in HEAVY)
    assert result["settings"]["precision"] == "fp32" and result["step_s_plain"] > 0
