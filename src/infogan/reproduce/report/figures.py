"""The report's plots, drawn with matplotlib's object API on the Agg canvas (no pyplot state, no display,
no backend switch in the caller's process). Each function takes plain data and writes one PNG atomically."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from infogan.storage import atomic_write

COLOURS = {"InfoGAN": "tab:blue", "GAN baseline": "tab:red"}
DPI = 100


def _figure(width: float, height: float, ncols: int = 1):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, axes


def _save(fig, path: str | os.PathLike) -> Path:
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=DPI))
    return path


def _iteration_axis(ax) -> None:
    """x axis of iterations: at most six ticks, written 2.5k, 20k, 1.5M so that long runs stay readable."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    def short(x: float, _pos) -> str:
        return f"{x / 1e6:g}M" if abs(x) >= 1e6 else f"{x / 1e3:g}k" if abs(x) >= 1e3 else f"{x:g}"

    ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
    ax.xaxis.set_major_formatter(FuncFormatter(short))
    ax.set_xlabel("iteration")


def _band(ax, band: dict, label: str, colour: str | None) -> None:
    """Mean line and a shaded min-max range over seeds."""
    steps = np.asarray(band["steps"])
    n = band.get("n", 1)
    ax.plot(steps, band["mean"], color=colour, label=f"{label} (mean of {n})" if n > 1 else label)
    if n > 1:
        ax.fill_between(steps, band["min"], band["max"], color=colour, alpha=0.2, linewidth=0)


def info_curves(bands: dict[str, dict], path, *, ceiling: float, code: str, ceiling_label: str) -> Path:
    """Figure 1: L_I of one categorical code over iterations, one band per group, the ceiling H(c) dashed.

    Args:
        bands: {group label: :func:`~infogan.reproduce.report.analysis.curve_band` plus "n" (runs)}.
        path: PNG to write.
        ceiling: H(c) in nats.
        code: code name for the axis label.
        ceiling_label: legend text of the ceiling line (e.g. "H(c) = ln 10").
    """
    fig, (ax,) = _figure(6.4, 3.8)
    for label, band in bands.items():
        if band["steps"]:
            _band(ax, band, label, COLOURS.get(label))
    ax.axhline(ceiling, color="black", linestyle="--", linewidth=1, label=ceiling_label)
    _iteration_axis(ax)
    ax.set_ylabel(f"L_I({code}) (nats)")
    ax.set_ylim(bottom=min(0.0, *(min(b["min"]) for b in bands.values() if b["steps"])), top=ceiling * 1.08)
    ax.grid(alpha=0.3)
    ax.legend(loc="center right")
    return _save(fig, path)


def loss_curves(bands: dict[str, dict[str, dict]], path, *, keys: Sequence[str]) -> Path:
    """One panel per stats key (GAN losses, D outputs), one band per group."""
    fig, axes = _figure(4.0 * len(keys), 3.2, ncols=len(keys))
    for ax, key in zip(axes, keys):
        for label, per_key in bands.items():
            if per_key[key]["steps"]:
                _band(ax, per_key[key], label, COLOURS.get(label))
        ax.set_title(key)
        _iteration_axis(ax)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize="small")
    return _save(fig, path)


def accuracy_strip(seeds: Sequence[int], accuracies: Sequence[float], path, *, paper: float) -> Path:
    """Per-seed test accuracy of the categorical code, the mean, and the paper's figure."""
    fig, (ax,) = _figure(5.0, 2.6)
    acc = 100 * np.asarray(accuracies)
    ax.scatter(acc, np.zeros_like(acc), s=60, color=COLOURS["InfoGAN"], zorder=3, label="one seed")
    for i, (s, a) in enumerate(zip(seeds, acc)):  # labels staggered so that close seeds stay readable
        ax.annotate(f"seed {s}", (a, 0), textcoords="offset points", xytext=(0, 8 + 11 * (i % 4)), ha="center",
                    fontsize=8)
    ax.axvline(acc.mean(), color=COLOURS["InfoGAN"], linewidth=1, label=f"mean {acc.mean():.2f}%")
    ax.axvline(100 * paper, color="black", linestyle="--", linewidth=1, label=f"paper {100 * paper:.0f}%")
    ax.set_yticks([])
    ax.set_xlabel("test accuracy (%), Hungarian matching")
    ax.set_xlim(min(acc.min(), 100 * paper) - 3, 100)
    ax.legend(fontsize="small", loc="upper left")
    return _save(fig, path)


def confusion_heatmap(confusion: Sequence[Sequence[int]], mapping: dict, path, *, title: str) -> Path:
    """Confusion matrix, rows = categories ordered by their matched digit, colour = share of each digit.

    Args:
        confusion: (K, C) counts (rows categories, columns true digits).
        mapping: {category: digit} of the Hungarian matching (keys may be strings; -1 = unmatched).
        path: PNG to write.
        title: axes title.
    """
    counts = np.asarray(confusion, dtype=np.float64)
    k, c = counts.shape
    digit_of = {int(cat): int(d) for cat, d in mapping.items()}
    order = sorted(range(k), key=lambda cat: (digit_of.get(cat, -1) < 0, digit_of.get(cat, -1), cat))
    share = counts / np.maximum(counts.sum(axis=0, keepdims=True), 1.0)
    fig, (ax,) = _figure(5.6, 5.0)
    image = ax.imshow(share[order], cmap="Blues", vmin=0.0, vmax=1.0)
    for row, cat in enumerate(order):
        for col in range(c):
            value = share[cat, col]
            if value >= 0.005:
                ax.text(col, row, f"{100 * value:.0f}", ha="center", va="center", fontsize=7,
                        color="white" if value > 0.6 else "black")
    ax.set_xticks(range(c))
    ax.set_yticks(range(k))
    ax.set_yticklabels([f"cat {cat} \u2192 {digit_of.get(cat, -1) if digit_of.get(cat, -1) >= 0 else '-'}"
                        for cat in order], fontsize=8)
    ax.set_xlabel("true digit")
    ax.set_ylabel("category (matched digit)")
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, shrink=0.8, label="share of the digit's test images")
    return _save(fig, path)


def attribute_curves(records: dict[str, dict], path, *, attributes: Sequence[str],
                     units: dict[str, str]) -> Path:
    """Mean attribute value along the sweep of each continuous code; one panel per attribute.

    Args:
        records: {run label: code_attributes record}; one line per (run, code).
        path: PNG to write.
        attributes: attribute names (one panel each).
        units: attribute -> axis label.
    """
    fig, axes = _figure(3.6 * len(attributes), 3.2, ncols=len(attributes))
    styles = ["-", "--", ":", "-."]
    codes = sorted({code for r in records.values() for code in r["codes"]})
    for ax, attribute in zip(axes, attributes):
        for i, (label, record) in enumerate(records.items()):
            for j, code in enumerate(codes):
                curve = record["codes"].get(code, {}).get("curve")
                if not curve:
                    continue
                values = [np.nan if v is None else v for v in curve[attribute]]
                ax.plot(curve["values"], values, linestyle=styles[i % len(styles)], color=f"C{j}",
                        label=f"{code}, {label}" if len(records) > 1 else code, linewidth=1.2)
        ax.set_xlabel("code value")
        ax.set_ylabel(units.get(attribute, attribute))
        ax.set_title(attribute)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize="x-small")
    return _save(fig, path)
