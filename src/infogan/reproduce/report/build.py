"""``infogan report RUN... [--out DIR]``: turn run folders into ``report.html`` + ``report.md`` (+ ``report.json``).

InfoGAN runs and Figure 1 baselines are told apart by their config (``RunConfig.is_baseline``).
Every figure is drawn here from the run folders: stats.jsonl curves, metric files (computed and appended
once when missing), and sample/traversal sheets rendered from each snapshot.

    >>> from infogan.reproduce.report import build_report
    >>> build_report(["repro/"])             # a reproduction folder, or run folders one by one
    PosixPath('repro/report')
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from infogan import snapshot
from infogan.errors import ConfigError
from infogan.latent.spec import Categorical
from infogan.reproduce.report import quality, sections
from infogan.reproduce.report.document import (
    Bullets,
    Document,
    Text,
    to_html,
    to_markdown,
)
from infogan.reproduce.report.runs import (
    RunRecord,
    cached_metric,
    find_runs,
    machine_info,
)
from infogan.reproduce.report.sections import RunResult
from infogan.storage import atomic_write_text

TRAVERSAL_STEPS, TRAVERSAL_SPAN = 10, 2.0  # the paper's Figure 2: ten columns over [-2, 2]


def build_report(runs: Sequence[str | os.PathLike], out: str | os.PathLike | None = None, *,
                 attribute_draws: int = 200, device: str = "cpu", quality_samples: int = 10_000,
                 echo: Callable[[str], None] = print) -> Path:
    """Build the report of some runs.

    Args:
        runs: run folders, or folders holding run folders (e.g. a reproduction's ``--outdir``).
        out: report folder (default: ``report`` beside the runs, in their common parent folder).
        attribute_draws: draws per continuous code for the attribute measures (names the protocol).
        quality_samples: samples of the sample-quality metrics and L_I (names the protocols).
        device: where to evaluate the snapshots ("cpu", "cuda").
        echo: progress lines.
    Returns:
        The report folder, holding report.html, report.md, report.json, figures/ and configs/.
    """
    records = sorted(find_runs(runs), key=lambda r: (r.baseline, r.seed, r.name))
    out = Path(out) if out is not None else default_out(records)
    results = [gather(r, out, attribute_draws=attribute_draws, device=device, echo=echo,
                      quality_samples=quality_samples) for r in records]
    configs = {}
    for r in records:
        configs[r.name] = r.config.to_json()
        atomic_write_text(out / "configs" / f"{r.name}.json", configs[r.name] + "\n")
    numbers: dict = {"runs": [r.name for r in records], "built": time.strftime("%Y-%m-%dT%H:%M:%S")}
    built_on = machine_info()
    body = [sections.figure1(results, out, numbers), sections.figure2(results),
            sections.classifier(results, out, numbers), quality.section(results, numbers),
            sections.continuous(results, out, numbers),
            sections.samples(results), sections.training_curves(results, out),
            sections.runs_table(results, configs, built_on, time.strftime("%Y-%m-%d %H:%M"))]
    numbers["machine"] = built_on
    presets = sorted({r.config.preset.removesuffix("-baseline") for r in records})
    doc = Document(f"InfoGAN reproduction report: {', '.join(presets)}", intro=_summary(records, numbers),
                   sections=body)
    atomic_write_text(out / "report.md", to_markdown(doc))
    atomic_write_text(out / "report.html", to_html(doc, out))
    atomic_write_text(out / "report.json", json.dumps(numbers, indent=2, sort_keys=True, default=str) + "\n")
    return out


def default_out(records: Sequence[RunRecord]) -> Path:
    """``<common parent of the runs>/report``; runs in different folders need an explicit ``--out``."""
    parents = {r.path.resolve().parent for r in records}
    if len(parents) != 1:
        raise ConfigError("the runs live in different folders; pass --out DIR for the report")
    return records[0].path.parent / "report"


@torch.no_grad()
def gather(run: RunRecord, out: Path, *, attribute_draws: int, device: str,
           echo: Callable[[str], None], quality_samples: int = 10_000) -> RunResult:
    """Load a run's snapshot; read (or compute once) its metrics; draw its sample and traversal sheets."""
    from infogan.inference.viz import sample_sheet, save_grid, traversal_sheet
    from infogan.metrics import METRICS
    from infogan.metrics.attributes import protocol_name

    result = RunResult(run)
    if not (run.path / snapshot.SNAPSHOT_NAME).exists():
        echo(f"{run.name}: no snapshot yet; only its curves are reported")
        return result
    model = snapshot.load(run.path, device=device)
    result.step = model.step
    spec, dataset = model.spec, run.config.data.dataset
    folder = out / "figures" / run.name
    if not run.baseline:
        if spec.categorical_indices and METRICS["code_acc"].applies(dataset):
            echo(f"{run.name}: code accuracy at step {model.step}")
            result.code_acc = cached_metric(run.path, model, "code_acc", METRICS["code_acc"].protocol(dataset))
        if spec.continuous_indices and METRICS["attributes"].applies(dataset):
            echo(f"{run.name}: attribute sweeps at step {model.step}")
            result.attributes = cached_metric(run.path, model, "attributes",
                                              protocol_name(attribute_draws, 9), num_samples=attribute_draws)
        result.quality = quality.gather(run, model, echo, num_samples=quality_samples)
        first_cat = next((f"c{i + 1}" for i in spec.categorical_indices), None)
        for i, (code, name) in enumerate(zip(spec.codes, spec.code_names())):
            sheet = traversal_sheet(model, i, steps=TRAVERSAL_STEPS, span=TRAVERSAL_SPAN)
            path = save_grid(sheet, folder / f"traverse-{name}.png", scale=2)
            if isinstance(code, Categorical):
                caption = "columns = its categories, rows = noise draws"
            else:
                rows = f"rows = categories of {first_cat}" if first_cat else "rows = noise draws"
                caption = f"columns sweep it over [-{TRAVERSAL_SPAN:g}, {TRAVERSAL_SPAN:g}], {rows}"
            result.traversals.append((name, path.relative_to(out).as_posix(), caption))
    latent = spec.sample(100, generator=torch.Generator().manual_seed(0))
    result.samples = save_grid(sample_sheet(model, latent), folder / "samples.png", scale=2).relative_to(out).as_posix()
    return result


def _summary(records: Sequence[RunRecord], numbers: dict) -> list:
    """The headline bullets at the top of the report."""
    infogan = [r for r in records if not r.baseline]
    baseline = [r for r in records if r.baseline]
    lines = [(f"{len(infogan)} InfoGAN run(s) (seeds {', '.join(str(r.seed) for r in infogan) or '-'}) and "
              f"{len(baseline)} GAN-baseline run(s) (seeds {', '.join(str(r.seed) for r in baseline) or '-'}).")]
    if c := numbers.get("classifier"):
        acc = c["accuracy"]
        sd = f", sd {100 * acc['sd']:.2f} points" if acc["sd"] is not None else ""
        lines.append(f"Categorical code as a classifier ({c['protocol']}): mean accuracy {100 * acc['mean']:.2f}%"
                     f"{sd}, min {100 * acc['min']:.2f}%, max {100 * acc['max']:.2f}% over {acc['n']} seed(s); "
                     f"paper: {100 * c['paper_accuracy']:.0f}%. NMI {c['nmi']['mean']:.4f}, ARI {c['ari']['mean']:.4f}.")
    if f := numbers.get("figure1"):
        parts = []
        if "infogan_final" in f:
            parts.append(f"InfoGAN L_I({f['code']}) {f['infogan_final']:.3f} nats at iteration "
                         f"{f['infogan_final_step']} ({100 * f['infogan_fraction_of_ceiling']:.1f}% of "
                         f"H = {f['ceiling']:.4f})")
        if "baseline_peak" in f:
            parts.append(f"baseline peak {f['baseline_peak']:.3f}, final {f['baseline_final']:.3f}")
        lines.append("Figure 1: " + "; ".join(parts) + ".")
    for v in numbers.get("continuous", {}).get("verdicts", []):
        lines.append(f"Paper: {v['code']} controls {v['words']}; measured as {v['attribute']}, this holds in "
                     f"{v['seeds_holding']} of {v['seeds']} seed(s).")
    return [Text("Built by `infogan report` from the run folders; every number and figure below is computed by "
                 "the project's code from those folders."), Bullets(lines)]


# ----- command line --------------------------------------------------------------------------------------
