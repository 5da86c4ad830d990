"""The report's numbers, as pure functions over plain data (stats lines, metric records): curve bands over
seeds, metric curves, accuracy summaries, merged and split digits, and verdicts on the paper's claims about c2 and c3."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from infogan.metrics.attributes import STRONG

SPLIT_SHARE = 0.2  # a digit is split when at least two categories each take >= 20% of its test images
PAPER_ACCURACY = 0.95  # Sec. 5.1: "5% error" of c1 as a classifier on MNIST
# Figure 2 of the paper: (code, our attribute, the paper's word); "width" is read both ways
PAPER_CLAIMS = (("c2", "slant", "rotation"), ("c3", "width", "width"),
                ("c3", "thickness", "width, read as stroke thickness"))
# the one number of each metric's records, in this order of preference (disentanglement scores, code accuracy,
# FID, KID, purity, precision)
HEADLINE_KEYS = ("score", "accuracy", "fid", "kid", "purity", "precision")


def curve_band(runs: Sequence[Sequence[dict]], key: str, *, horizon: int | None = None) -> dict:
    """Mean, sd, min and max of one stats key over runs, at the steps every run recorded.

    Args:
        runs: one list of stats.jsonl records per run (each with ``step`` and ``key``).
        key: the stats key, e.g. ``"L_I/c1"``.
        horizon: keep steps <= horizon only.
    Returns:
        {"steps", "mean", "sd", "min", "max"} as lists (sd is 0 with one run); empty lists when the runs
        share no step.
    """
    tables = [{r["step"]: r[key] for r in run if key in r and (horizon is None or r["step"] <= horizon)}
              for run in runs]
    common = sorted(set.intersection(*(set(t) for t in tables))) if tables else []
    values = np.array([[t[s] for s in common] for t in tables], dtype=np.float64).reshape(len(tables), len(common))
    sd = values.std(axis=0, ddof=1) if len(tables) > 1 else np.zeros(len(common))
    return {"steps": common, "mean": values.mean(axis=0).tolist() if common else [], "sd": sd.tolist(),
            "min": values.min(axis=0).tolist() if common else [], "max": values.max(axis=0).tolist() if common else []}


def headline(record: dict) -> str | None:
    """The key of a metric record's one number (:data:`HEADLINE_KEYS`), None where it has none (the information
    bound, one number per code)."""
    return next((k for k in HEADLINE_KEYS if isinstance(record.get(k), (int, float))), None)


def metric_curves(runs: Sequence[dict[str, list[dict]]]) -> dict[str, dict]:
    """Bands over runs of every metric that at least one run recorded at two steps or more.

    Args:
        runs: one {protocol: metric records} per run (:meth:`~.runs.RunRecord.metric_records`).
    Returns:
        {"<protocol>: <headline key>": :func:`curve_band` of the runs that have the protocol, plus "n"}; a
        protocol whose runs share fewer than two steps is left out.
    """
    curves = {}
    for protocol in sorted({p for run in runs for p in run}):
        tables = [run[protocol] for run in runs if run.get(protocol)]
        if (key := headline(tables[0][0])) is None:
            continue
        band = curve_band([[r for r in t if r.get("step") is not None] for t in tables], key)
        if len(band["steps"]) >= 2:
            curves[f"{protocol}: {key}"] = {**band, "n": len(tables)}
    return curves


def figure1_numbers(infogan: dict, baseline: dict | None, ceiling: float) -> dict:
    """Headline numbers of Figure 1 from two :func:`curve_band` results.

    Returns:
        InfoGAN's mean L_I at the last common step and the fraction of the ceiling H(c) it reaches; the
        baseline's peak (value, step) and final value of its mean curve.
    """
    out: dict = {"ceiling": ceiling}
    if infogan["steps"]:
        out["infogan_final"] = infogan["mean"][-1]
        out["infogan_final_step"] = infogan["steps"][-1]
        out["infogan_fraction_of_ceiling"] = infogan["mean"][-1] / ceiling
    if baseline and baseline["steps"]:
        peak = int(np.argmax(baseline["mean"]))
        out.update(baseline_peak=baseline["mean"][peak], baseline_peak_step=baseline["steps"][peak],
                   baseline_final=baseline["mean"][-1], baseline_final_step=baseline["steps"][-1])
    return out


def summary(values: Sequence[float]) -> dict:
    """n, mean, sample sd (ddof 1; None for one value), median, min and max."""
    x = np.asarray(values, dtype=np.float64)
    if not len(x):
        return {"n": 0, "mean": None, "sd": None, "median": None, "min": None, "max": None}
    return {"n": len(x), "mean": float(x.mean()), "sd": float(x.std(ddof=1)) if len(x) > 1 else None,
            "median": float(np.median(x)), "min": float(x.min()), "max": float(x.max())}


def merged_and_split(confusion: Sequence[Sequence[int]], mapping: dict) -> dict:
    """Which digits a categorical code merges into one category and which it splits over several.

    Args:
        confusion: (K, C) counts, rows = categories, columns = true classes (a code_acc record).
        mapping: {category: class} of the Hungarian matching (keys may be strings, as read from JSON).
    Returns:
        ``merged``: [{"category", "digits": [{"digit", "share"}]}] for each category that is the majority
        category of two or more digits (share = fraction of the digit's images it takes);
        ``split``: [{"digit", "categories": [{"category", "share"}]}] for each digit of which two or more
        categories take at least :data:`SPLIT_SHARE`; ``unused``: categories predicted for no image;
        ``recall``: per digit, the fraction of its images in its matched category.
    """
    counts = np.asarray(confusion, dtype=np.float64)  # (K, C)
    share = counts / np.maximum(counts.sum(axis=0, keepdims=True), 1.0)  # column-normalised
    majority = share.argmax(axis=0)  # (C,) majority category of each digit
    merged = []
    for cat in range(counts.shape[0]):
        digits = [d for d in range(counts.shape[1]) if majority[d] == cat and counts[:, d].sum() > 0]
        if len(digits) > 1:
            merged.append({"category": cat, "digits": [{"digit": d, "share": float(share[cat, d])} for d in digits]})
    split = []
    for d in range(counts.shape[1]):
        cats = [c for c in np.argsort(-share[:, d]) if share[c, d] >= SPLIT_SHARE]
        if len(cats) > 1:
            split.append({"digit": d, "categories": [{"category": int(c), "share": float(share[c, d])} for c in cats]})
    matched = {int(d): int(c) for c, d in ((int(k), v) for k, v in mapping.items()) if d >= 0}
    recall = {d: float(share[matched[d], d]) if d in matched else 0.0 for d in range(counts.shape[1])}
    return {"merged": merged, "split": split, "unused": [int(c) for c in np.flatnonzero(counts.sum(axis=1) == 0)],
            "recall": recall}


def describe_merges(analysis: dict) -> list[str]:
    """One readable line per merge and split of :func:`merged_and_split`."""
    lines = []
    for m in analysis["merged"]:
        parts = ", ".join(f"{d['digit']} ({100 * d['share']:.0f}%)" for d in m["digits"])
        lines.append(f"merged: category {m['category']} takes most of digits {parts}")
    for s in analysis["split"]:
        parts = ", ".join(f"category {c['category']} ({100 * c['share']:.0f}%)" for c in s["categories"])
        lines.append(f"split: digit {s['digit']} is spread over {parts}")
    if analysis["unused"]:
        lines.append(f"unused categories (no test image): {analysis['unused']}")
    return lines or ["no digit is merged or split (every digit has its own majority category)"]


def _rho(record: dict, code: str, attribute: str) -> float | None:
    value = record.get("codes", {}).get(code, {}).get(attribute, {}).get("rho_mean")
    return None if value is None or not math.isfinite(value) else float(value)


def claim_verdicts(records: Sequence[dict]) -> list[dict]:
    """Test the paper's Figure 2 claims (c2 = rotation, c3 = width) on attribute records, one per seed.

    A claim "code -> attribute" holds in a seed when |mean rho| of that code and attribute is at least
    :data:`~infogan.metrics.attributes.STRONG` and larger than that of every other continuous code.

    Args:
        records: ``code_attributes_*`` metric records (:func:`infogan.metrics.attributes.code_attribute_correlation`).
    Returns:
        One dict per claim: code, attribute, words, per-seed rho and holds, count of seeds where it holds,
        and the mean |rho| over seeds; claims whose code the models lack are left out.
    """
    out = []
    for code, attribute, words in PAPER_CLAIMS:
        if not records or not all(code in r.get("codes", {}) for r in records):
            continue
        rhos, holds = [], []
        for r in records:
            rho = _rho(r, code, attribute)
            others = [abs(v) for c in r["codes"] if c != code and (v := _rho(r, c, attribute)) is not None]
            rhos.append(rho)
            holds.append(rho is not None and abs(rho) >= STRONG and all(abs(rho) > o for o in others))
        valid = [abs(v) for v in rhos if v is not None]
        out.append({"code": code, "attribute": attribute, "words": words, "rho": rhos, "holds": holds,
                    "seeds_holding": int(sum(holds)), "seeds": len(records),
                    "abs_rho_mean": float(np.mean(valid)) if valid else None})
    return out


def strongest_controls(records: Sequence[dict], attributes: Sequence[str]) -> dict[str, list[str | None]]:
    """For each attribute, per seed, the continuous code with the largest |mean rho| (roles up to renaming)."""
    out: dict[str, list[str | None]] = {}
    for attribute in attributes:
        row = []
        for r in records:
            scored = [(abs(v), c) for c in r.get("codes", {}) if (v := _rho(r, c, attribute)) is not None]
            row.append(max(scored)[1] if scored and max(scored)[0] >= STRONG else None)
        out[attribute] = row
    return out
