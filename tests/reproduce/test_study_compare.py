"""``benchmarks/study.py --compare``: the tests over seeds that say whether two variants differ beyond noise."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from study import compare


def summary(**variants: list[float]) -> dict:
    """A study summary with one key, ``fid``, and a constant ``fid_floor``, seeds numbered from 0."""
    return {name: {"per_seed": {s: {"fid": v, "fid_floor": 0.1} for s, v in enumerate(values)},
                   "summary": {"fid": {}, "fid_floor": {}}} for name, values in variants.items()}


def test_separated_variants_are_told_apart():
    rows = compare(summary(a=[2.0, 2.1, 2.2, 2.05, 2.15], b=[1.0, 1.1, 1.2, 1.05, 1.15]), [("a", "b")])
    (row,) = rows  # the constant floor is skipped: no test is possible on one value
    assert row["key"] == "fid" and row["n_a"] == row["n_b"] == 5
    assert row["difference"] == pytest.approx(1.0)
    assert row["welch_p"] < 1e-4
    assert row["mannwhitney_p"] == pytest.approx(2 / 252)  # the smallest two-sided p for 5 + 5 values


def test_overlapping_variants_are_not():
    rows = compare(summary(a=[1.4, 2.9, 1.6, 1.8], b=[1.1, 1.9, 1.5, 1.7]), [("a", "b")])
    assert rows[0]["welch_p"] > 0.2 and rows[0]["mannwhitney_p"] > 0.2


def test_a_variant_with_one_seed_is_not_tested():
    assert compare(summary(a=[1.0], b=[1.0, 2.0, 3.0]), [("a", "b")]) == []


def test_a_side_may_pool_variants():
    rows = compare(summary(a=[2.0, 2.1], b=[2.2, 2.05, 2.15], c=[1.0, 1.1, 1.2]), [("a+b", "c")])
    assert rows[0]["n_a"] == 5 and rows[0]["n_b"] == 3
    assert rows[0]["mean_a"] == pytest.approx(2.1)
