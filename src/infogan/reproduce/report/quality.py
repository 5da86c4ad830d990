"""The report's section "What G draws": FID, KID, precision/recall and category purity of every InfoGAN run,
per seed and summarised per preset, next to the real-vs-real floor; and what Q recovers of each code.

The numbers are read from (or computed once into) each run's metric files at its snapshot step, with the
protocols of :mod:`infogan.metrics.sample_quality_eval` (10,000 samples against the test split, the shipped
digit features) and ``info_bound_10k``.
"""

from __future__ import annotations

from infogan.metrics import METRICS
from infogan.metrics.sample_quality_eval import (
    DIGIT_DATASETS,
    protocol_name,
    purity_protocol,
)
from infogan.reproduce.report import analysis
from infogan.reproduce.report.document import Section, Table, Text
from infogan.reproduce.report.runs import cached_metric

QUALITY_METRICS = ("fid", "kid", "prd", "purity")
COLUMNS = ("FID", "floor", "KID", "precision", "recall", "purity", "NMI", "digits")


def gather(run, model, echo, *, num_samples: int = 10_000) -> dict[str, dict]:
    """The sample-quality and information records of one InfoGAN run at its snapshot step ({} where the project
    has no features for its dataset); ``num_samples`` names the protocols (10,000: ``fid_mnistnet_10k``...)."""
    dataset = run.config.data.dataset
    out: dict[str, dict] = {}
    if METRICS["info"].applies(dataset) and model.spec.codes:
        out["info"] = cached_metric(run.path, model, "info", "info_bound_10k" if num_samples == 10_000 else
                                    f"info_bound_n{num_samples}", num_samples=num_samples)
    if dataset.split(":")[0] not in DIGIT_DATASETS:
        return out
    echo(f"{run.name}: what G draws (FID, KID, precision/recall, purity) at step {model.step}")
    spec = model.spec
    for name in QUALITY_METRICS:
        if name == "purity":
            if not spec.categorical_indices:
                continue
            protocol = purity_protocol(dataset, num_samples, spec.codes[spec.categorical_indices[0]].k)
        else:
            protocol = protocol_name(name, dataset, "mnistnet", num_samples)
        out[name] = cached_metric(run.path, model, name, protocol, num_samples=num_samples)
    return out


def _row(q: dict) -> list[float | None]:
    fid, kid, prd, pur = (q.get(k) or {} for k in QUALITY_METRICS)
    return [fid.get("fid"), fid.get("floor"), kid.get("kid"), prd.get("precision"), prd.get("recall"),
            pur.get("purity"), pur.get("nmi"), pur.get("digits_covered")]


def _fmt(value, column: str) -> str:
    if value is None:
        return "-"
    if column == "digits":
        return f"{value:.1f}" if isinstance(value, float) and not value.is_integer() else f"{int(value)}"
    return f"{value:.5f}" if column == "KID" else f"{value:.3f}"


def section(results, numbers: dict) -> Section:
    """The section, its numbers recorded under ``numbers["what_g_draws"]``."""
    sec = Section("What G draws: FID, KID, precision/recall and category purity")
    scored = [r for r in results if r.quality.get("fid")]
    if not scored:
        sec.blocks.append(Text("Not measured: the project ships sample-quality features for MNIST-shaped digits "
                               "only, and no InfoGAN snapshot here has them."))
        return sec
    fid = scored[0].quality["fid"]
    sec.blocks.append(Text(
        f"Protocols `{fid['protocol']}` and its siblings: {fid['num_samples']:,} images drawn from the prior "
        f"against the {fid['num_real']:,}-image test split, in the features of the digit classifier shipped with "
        "the package (docs/metrics.md). The floor is the same statistic between 10,000 training images and the "
        "test split: what a generator that draws real digits would get. Precision/recall: Kynkaanniemi et al. "
        "(2019), k = 3; purity: per category of c1, the share of its generated images the classifier gives "
        "the category's majority digit (Elastic-InfoGAN's protocol), NMI between category and digit, and the "
        "number of distinct majority digits."))
    rows, record = [], {}
    for r in scored:
        values = _row(r.quality)
        rows.append([r.run.name, r.run.config.preset, str(r.run.seed)] + [_fmt(v, c) for v, c in zip(values, COLUMNS)])
        record[r.run.name] = dict(zip(COLUMNS, values))
    summary: dict = {}
    for preset in sorted({r.run.config.preset for r in scored}):
        group = [record[r.run.name] for r in scored if r.run.config.preset == preset]
        summary[preset] = {c: analysis.summary([g[c] for g in group if g[c] is not None]) for c in COLUMNS}
        for stat in ("mean", "sd", "median", "min", "max"):
            rows.append([stat, preset, ""] + [_fmt(summary[preset][c].get(stat), c) for c in COLUMNS])
    sec.blocks.append(Table(["run", "preset", "seed", *COLUMNS], rows))
    numbers["what_g_draws"] = {"protocol": fid["protocol"], "per_run": record, "per_preset": summary}
    recovered = [r for r in results if (r.quality.get("info") or {}).get("recovered")]
    if recovered:
        names = list(recovered[0].quality["info"]["recovered"])
        sec.blocks.append(Text("What Q recovers of each code (`info_bound_10k`): for a categorical code the share "
                               "of samples whose most likely category is the one G was given, for a continuous "
                               "code R^2 of Q's mean against the code."))
        sec.blocks.append(Table(["run", *names], [[r.run.name] + [f"{r.quality['info']['recovered'][n]:.3f}"
                                                                  for n in names] for r in recovered]))
    return sec
