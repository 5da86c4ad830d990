"""The report's sections: each function turns gathered run results into document blocks (and the figures
they show), and records its numbers in a shared dict that becomes ``report.json``."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from infogan.metrics.attributes import ATTRIBUTES, DEFAULT_ATTRIBUTES, STRONG
from infogan.reproduce.report import analysis, figures
from infogan.reproduce.report.document import (
    Bullets,
    Code,
    Gallery,
    Image,
    Section,
    Table,
    Text,
)
from infogan.reproduce.report.runs import RunRecord, describe_machine

LOSS_KEYS = ("gan_d", "gan_g", "d_real", "d_fake")
UNITS = {"slant": "slant (degrees, + = top leans right)", "width": "width (pixels)",
         "thickness": "stroke thickness (pixels)", "height": "height (pixels)", "ink": "ink (pixels of full ink)"}


@dataclass
class RunResult:
    """One run folder plus what the report computed or read for its snapshot.

    Attributes:
        run: the run folder's record.
        step: snapshot step (None: no snapshot yet; curves only).
        code_acc: the ``code_acc_<dataset>_test`` record at that step.
        attributes: the ``code_attributes_*`` record at that step.
        traversals: (code, path relative to the report folder, caption) per code.
        samples: sample grid path relative to the report folder.
        quality: the sample-quality and information records at that step (:mod:`~.quality`).
    """

    run: RunRecord
    step: int | None = None
    code_acc: dict | None = None
    attributes: dict | None = None
    traversals: list[tuple[str, str, str]] = field(default_factory=list)
    samples: str | None = None
    quality: dict = field(default_factory=dict)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def _num(x: float | None, digits: int = 4) -> str:
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{digits}f}"


def _band(runs: list[RunRecord], key: str, horizon: int | None = None) -> dict:
    stats = [r.stats for r in runs if r.stats]  # a run without a tick yet would empty the common steps
    return {**analysis.curve_band(stats, key, horizon=horizon), "n": len(stats)}


def figure1(results: list[RunResult], out: Path, numbers: dict) -> Section:
    """Figure 1: L_I of the first categorical code, InfoGAN against the baseline, over the first iterations."""
    section = Section("Figure 1: L_I of the categorical code, InfoGAN against a GAN with Q attached")
    infogan = [r.run for r in results if not r.run.baseline]
    baseline = [r.run for r in results if r.run.baseline]
    spec = (infogan or baseline)[0].config.model.latent
    if not spec.categorical_indices:
        section.blocks.append(Text("Not applicable: the runs have no categorical code."))
        return section
    index = spec.categorical_indices[0]
    code, k = f"c{index + 1}", spec.codes[index].k
    ceiling = spec.codes[index].entropy()
    horizon = max((r.stats[-1]["step"] for r in baseline if r.stats), default=None)
    bands = {label: _band(runs, f"L_I/{code}", horizon) for label, runs in
             (("InfoGAN", infogan), ("GAN baseline", baseline)) if runs}
    if not any(b["steps"] for b in bands.values()):
        section.blocks.append(Text("No stats recorded yet (stats.jsonl is empty)."))
        return section
    path = figures.info_curves(bands, out / "figures" / "figure1_info.png", ceiling=ceiling, code=code,
                               ceiling_label=f"H({code}) = ln {k} = {ceiling:.4f}")
    nums = analysis.figure1_numbers(bands.get("InfoGAN", {"steps": []}), bands.get("GAN baseline"), ceiling)
    numbers["figure1"] = {"code": code, "horizon": horizon, **nums, "bands": bands}
    section.blocks.append(Image(path.relative_to(out).as_posix(),
                                f"L_I({code}) per tick (stats.jsonl), mean over seeds with the min-max range shaded; "
                                f"dashed: the ceiling H({code}) = ln {k}."))
    lines = []
    if "infogan_final" in nums:
        lines.append(f"InfoGAN: L_I({code}) = {nums['infogan_final']:.4f} nats at iteration "
                     f"{nums['infogan_final_step']}, {100 * nums['infogan_fraction_of_ceiling']:.1f}% of "
                     f"ln {k} = {ceiling:.4f} (paper: about 2.25-2.29 within a few hundred iterations).")
    if "baseline_peak" in nums:
        lines.append(f"GAN baseline: peak {nums['baseline_peak']:.4f} nats at iteration {nums['baseline_peak_step']}, "
                     f"{nums['baseline_final']:.4f} at iteration {nums['baseline_final_step']} "
                     "(paper: peaks near 0.6, falls to about 0.05-0.1).")
    section.blocks.append(Bullets(lines))
    rows = []
    steps = sorted(set().union(*(b["steps"] for b in bands.values())))
    picks = sorted(set(steps[:: max(1, len(steps) // 10)]) | {steps[-1]})  # about ten rows, the last included
    for s in picks:
        row = [str(s)]
        for band in bands.values():
            i = band["steps"].index(s) if s in band["steps"] else None
            row.append("-" if i is None else f"{band['mean'][i]:.4f} ± {band['sd'][i]:.4f}")
        rows.append(row)
    section.blocks.append(Table(["iteration", *(f"{label} (mean ± sd)" for label in bands)], rows))
    return section


def figure2(results: list[RunResult]) -> Section:
    """Figure 2: every code's traversal sheet, per InfoGAN seed."""
    section = Section("Figure 2: traversals of every code")
    section.blocks.append(Text("Continuous codes are swept over [-2, 2] (the training range is [-1, 1]) along the "
                               "columns, one row per category of the first categorical code, the noise fixed; the "
                               "categorical code's sheet has one column per category and one row per noise draw."))
    for r in results:
        if r.traversals:
            section.blocks.append(Gallery([Image(path, f"{r.run.name} (seed {r.run.seed}), {code}: {caption}")
                                           for code, path, caption in r.traversals]))
    if len(section.blocks) == 1:
        section.blocks.append(Text("No InfoGAN snapshot to draw from."))
    return section


def classifier(results: list[RunResult], out: Path, numbers: dict) -> Section:
    """The 5% claim: test accuracy of the categorical code per seed, its spread, confusions, merges."""
    section = Section("The categorical code as a classifier (the paper's 5% error)")
    scored = [r for r in results if r.code_acc is not None]
    if not scored:
        section.blocks.append(Text("Not measured: no InfoGAN snapshot with a categorical code on a labelled dataset."))
        return section
    protocol = scored[0].code_acc["protocol"]
    section.blocks.append(Text(f"Protocol `{protocol}`: argmax Q(c|x) of the first categorical code on the whole "
                               "test split, categories matched one-to-one to classes by the Hungarian algorithm; "
                               "NMI and ARI from scikit-learn. Numbers are read from each run's "
                               f"`metric-{protocol}.jsonl` at its snapshot step."))
    rows = [[f"{r.run.name}", str(r.run.seed), str(r.code_acc.get("step")), _pct(r.code_acc["accuracy"]),
             _num(r.code_acc["nmi"]), _num(r.code_acc["ari"]), _num(r.code_acc.get("usage_entropy"), 3)]
            for r in scored]
    acc = analysis.summary([r.code_acc["accuracy"] for r in scored])
    nmi = analysis.summary([r.code_acc["nmi"] for r in scored])
    ari = analysis.summary([r.code_acc["ari"] for r in scored])
    for stat in ("mean", "sd", "median", "min", "max"):
        rows.append([stat, "", "", _pct(acc[stat]), _num(nmi[stat]), _num(ari[stat]), ""])
    rows.append(["paper", "", "", _pct(analysis.PAPER_ACCURACY), "", "", ""])
    section.blocks.append(Table(["run", "seed", "step", "accuracy", "NMI", "ARI", "usage entropy (nats)"], rows))
    worst = min(scored, key=lambda r: r.code_acc["accuracy"])
    best = max(scored, key=lambda r: r.code_acc["accuracy"])
    merges = analysis.merged_and_split(worst.code_acc["confusion"], worst.code_acc["mapping"])
    numbers["classifier"] = {"protocol": protocol, "accuracy": acc, "nmi": nmi, "ari": ari,
                             "paper_accuracy": analysis.PAPER_ACCURACY,
                             "per_run": {r.run.name: {k: r.code_acc[k] for k in ("accuracy", "nmi", "ari", "step")}
                                         for r in scored},
                             "worst": worst.run.name, "worst_analysis": merges}
    gap = acc["mean"] - analysis.PAPER_ACCURACY
    section.blocks.append(Text(f"Over {acc['n']} seed(s): mean {_pct(acc['mean'])}"
                               + (f", sd {100 * acc['sd']:.2f} points" if acc["sd"] is not None else "")
                               + f", min {_pct(acc['min'])}, max {_pct(acc['max'])}; the paper's 95% is "
                               f"{'reached' if gap >= 0 else 'missed'} by the mean ({100 * gap:+.2f} points) and "
                               f"by {sum(r.code_acc['accuracy'] >= analysis.PAPER_ACCURACY for r in scored)} of "
                               f"{acc['n']} seed(s)."))
    strip = figures.accuracy_strip([r.run.seed for r in scored], [r.code_acc["accuracy"] for r in scored],
                                   out / "figures" / "accuracy.png", paper=analysis.PAPER_ACCURACY)
    section.blocks.append(Image(strip.relative_to(out).as_posix(), "Test accuracy per seed; dashed: the paper's 95%."))
    if best is worst and len(scored) > 1:  # every seed ties: show another one as "best"
        best = next(r for r in scored if r is not worst)
    for label, r in (("worst", worst), ("best", best)) if best is not worst else (("only", worst),):
        path = figures.confusion_heatmap(r.code_acc["confusion"], r.code_acc["mapping"],
                                         out / "figures" / f"confusion_{r.run.name}.png",
                                         title=f"{r.run.name}: accuracy {_pct(r.code_acc['accuracy'])}")
        mapping = ", ".join(f"{c}\u2192{d}" for c, d in sorted(((int(c), d) for c, d in r.code_acc["mapping"].items())))
        section.blocks.append(Image(path.relative_to(out).as_posix(),
                                    f"Confusion matrix of the {label} seed ({r.run.name}); cells: % of each digit's "
                                    f"test images per category; learned category\u2192digit mapping: {mapping}."))
    section.blocks.append(Text(f"Merged and split digits in the worst seed ({worst.run.name}, a digit is split when "
                               f"two or more categories each take at least {100 * analysis.SPLIT_SHARE:.0f}% of it):"))
    section.blocks.append(Bullets(analysis.describe_merges(merges)))
    return section


def continuous(results: list[RunResult], out: Path, numbers: dict) -> Section:
    """Continuous codes measured: rank correlation of each code with slant, width, thickness and ink."""
    section = Section("Continuous codes, measured")
    scored = [r for r in results if r.attributes is not None and r.attributes.get("codes")]
    if not scored:
        section.blocks.append(Text("Not measured: no InfoGAN snapshot with continuous codes on a digit dataset."))
        return section
    first = scored[0].attributes
    attrs = [a for a in DEFAULT_ATTRIBUTES if a in first["attributes"]]
    section.blocks.append(Text(
        f"Protocol `{first['protocol']}`: for each continuous code, {first['draws']} draws of (z, c) from the "
        f"prior; each draw's code is swept over {first['steps']} values in [-{first['span']:g}, {first['span']:g}] "
        "with the categorical code, the other codes and the noise held fixed. Each image is measured "
        "(" + "; ".join(f"{a}: {ATTRIBUTES[a][1]}" for a in attrs) + "), Spearman's rho between code value and "
        "attribute is taken along each sweep (scipy.stats.spearmanr), and averaged over the draws. A code "
        f"controls an attribute when |mean rho| >= {STRONG}."))
    rows = []
    for r in scored:
        for code, entry in r.attributes["codes"].items():
            cells = [f"{_num(entry[a]['rho_mean'], 3)} ± {_num(entry[a]['rho_sd'], 2)}" for a in attrs]
            rows.append([r.run.name, code, *cells, entry.get("strongest") or "-"])
    section.blocks.append(Table(["run", "code", *(f"rho {a} (mean ± sd)" for a in attrs), "strongest"], rows))
    records = [r.attributes for r in scored]
    verdicts = analysis.claim_verdicts(records)
    controls = analysis.strongest_controls(records, attrs)
    numbers["continuous"] = {"protocol": first["protocol"], "verdicts": verdicts, "strongest_code": controls,
                             "per_run": {r.run.name: {c: {a: e[a] for a in attrs} for c, e in r.attributes["codes"].items()}
                                         for r in scored}}
    lines = []
    for v in verdicts:
        word = "confirmed" if v["seeds_holding"] == v["seeds"] else ("refuted" if v["seeds_holding"] == 0 else "mixed")
        rhos = ", ".join(_num(x, 2) for x in v["rho"])
        lines.append(f"Paper: {v['code']} controls {v['words']}, measured as {v['attribute']}: {word}, holds in "
                     f"{v['seeds_holding']} of {v['seeds']} seed(s) (mean rho per seed: {rhos}; mean |rho| "
                     f"{_num(v['abs_rho_mean'], 3)}).")
    for attribute, codes in controls.items():
        lines.append(f"Code that controls {attribute} most, per seed (roles up to renaming): "
                     + ", ".join(c or "none" for c in codes) + ".")
    section.blocks.append(Bullets(lines))
    path = figures.attribute_curves({r.run.name: r.attributes for r in scored}, out / "figures" / "attributes.png",
                                    attributes=attrs, units=UNITS)
    section.blocks.append(Image(path.relative_to(out).as_posix(),
                                "Mean attribute over the draws at each code value, per run and continuous code."))
    return section


def samples(results: list[RunResult]) -> Section:
    """Sample grids of every run's snapshot."""
    section = Section("Samples")
    section.blocks.append(Text("100 samples from each snapshot (seed 0 of the prior); with a categorical code, row r "
                               "shows its category r with the same noise and continuous codes in every row."))
    section.blocks.append(Gallery([Image(r.samples, f"{r.run.name} ({r.run.label}, seed {r.run.seed}, step {r.step})")
                                   for r in results if r.samples]))
    return section


def training_curves(results: list[RunResult], out: Path) -> Section:
    """GAN losses, D outputs, L_I of every code and the metric curves over the whole runs."""
    section = Section("Training curves")
    groups = {label: [r.run for r in results if r.run.label == label] for label in ("InfoGAN", "GAN baseline")}
    groups = {k: v for k, v in groups.items() if v and any(run.stats for run in v)}
    if not groups:
        section.blocks.append(Text("No stats recorded yet."))
        return section
    keys = [k for k in LOSS_KEYS if any(k in run.stats[0] for runs in groups.values() for run in runs if run.stats)]
    bands = {label: {k: _band(runs, k) for k in keys} for label, runs in groups.items()}
    path = figures.loss_curves(bands, out / "figures" / "losses.png", keys=keys)
    section.blocks.append(Image(path.relative_to(out).as_posix(),
                                "GAN losses (nats) and D's mean output on real and generated images, mean over seeds "
                                "with the min-max range shaded."))
    info_keys = sorted({k for runs in groups.values() for run in runs for k in (run.stats[0] if run.stats else {})
                        if k.startswith("L_I/")})
    if info_keys:
        bands = {label: {k: _band(runs, k) for k in info_keys} for label, runs in groups.items()}
        path = figures.loss_curves(bands, out / "figures" / "info_all_codes.png", keys=info_keys)
        section.blocks.append(Image(path.relative_to(out).as_posix(),
                                    "L_I of every code over the whole runs (training batches, per tick)."))
    curves = {label: analysis.metric_curves([run.metric_records() for run in runs]) for label, runs in groups.items()}
    if keys := sorted({k for per_key in curves.values() for k in per_key}):
        empty = {"steps": [], "mean": [], "min": [], "max": [], "n": 0}
        bands = {label: {k: per_key.get(k, empty) for k in keys} for label, per_key in curves.items()}
        path = figures.loss_curves(bands, out / "figures" / "metric_curves.png", keys=keys)
        section.blocks.append(Image(path.relative_to(out).as_posix(),
                                    "Every metric recorded at two steps or more, from the runs' metric files (the "
                                    "evaluations during training, --eval-every, and those of their snapshots); each "
                                    "panel names the protocol and the number drawn; mean over seeds with the "
                                    "min-max range shaded."))
    return section


def runs_table(results: list[RunResult], configs: dict[str, str], built_on: dict, date: str) -> Section:
    """Run list with wall time and machine, and every run's config."""
    section = Section("Runs, configs, wall time and machine")
    rows = []
    for r in results:
        run, last = r.run, (r.run.stats[-1] if r.run.stats else {})
        machines = sorted({describe_machine(s["machine"]) for s in run.machine if "machine" in s})
        sessions = sum(s.get("wall_s", 0.0) for s in run.machine)
        rows.append([run.name, run.label, str(run.seed), f"{last.get('step', 0)}/{run.config.train.iterations}",
                     str(run.config.train.batch_size), str(last.get("images", 0)),
                     "-" if run.wall_s is None else f"{run.wall_s / 60:.1f} min",
                     f"{sessions / 60:.1f} min" if run.machine else "-",
                     str(last.get("images_per_s", "-")), "; ".join(machines) or "not recorded"])
    section.blocks.append(Table(["run", "kind", "seed", "iterations", "batch", "images seen", "training time",
                                 "session wall time", "images/s (last tick)", "machine"], rows))
    section.blocks.append(Text(f"Report built on {date} on {describe_machine(built_on)}. Training time is the "
                               "trainer's own clock (time_s of the last tick); session wall time adds start-up, "
                               "snapshots and sample grids (machine.json, runs made by `infogan reproduce`)."))
    for name, text in configs.items():
        section.blocks.append(Code(text, f"config of {name}", link=f"configs/{name}.json"))
    return section
