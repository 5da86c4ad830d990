"""The report builder on tiny fake runs: it renders, has every section, and its numbers are those of the
metric files and stats; plus the pure analysis functions on hand-made inputs."""

import contextlib
import io
import json
import re

import numpy as np
import pytest

import infogan
from infogan.cli import main
from infogan.data import load_fake
from infogan.errors import ConfigError
from infogan.reproduce.report import analysis, build_report
from infogan.reproduce.report.runs import find_runs
from infogan.storage import read_jsonl

SECTIONS = ["Figure 1", "Figure 2", "as a classifier", "What G draws", "Continuous codes, measured", "Samples",
            "Training curves",
            "Runs, configs, wall time and machine"]


@pytest.fixture(scope="module")
def built(tmp_path_factory, tiny_arch):
    """Two InfoGAN seeds (4 iterations) and two baselines (2 iterations) of the tiny architecture on fake
    data, and their report built once through the command line: (runs folder, report folder, stdout)."""
    root = tmp_path_factory.mktemp("report")
    data = load_fake(n=64)
    cfg = infogan.get_preset("fake").replace(model={"arch": tiny_arch}, train={
        "iterations": 4, "batch_size": 8, "tick": 2, "snapshot_every": 2, "precision": "fp32"})
    for seed in (0, 1):
        infogan.train(cfg.replace(train={"seed": seed}), outdir=root / "runs", data=data, progress=False)
        infogan.train(cfg.replace(preset="fake-baseline", optim={"info_to_g": False},
                                  train={"seed": seed, "iterations": 2}),
                      outdir=root / "runs", data=data, progress=False)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["report", str(root / "runs"), "--attribute-draws", "3", "--quality-samples", "200"]) == 0
    return root / "runs", root / "runs" / "report", out.getvalue()


def test_report_renders_every_section_with_the_numbers_of_the_run_folders(built):
    runs, out, stdout = built
    assert f"report: {out / 'report.html'}" in stdout
    md, page = (out / "report.md").read_text(), (out / "report.html").read_text()
    headings = [line for line in md.splitlines() if line.startswith("## ")]
    for title in SECTIONS:
        assert any(title in h for h in headings) and title in page
    # figures: linked from the Markdown, all present; embedded in the HTML, nothing fetched from elsewhere
    links = re.findall(r"\]\((figures/[^)]+\.png)\)", md)
    assert len(links) >= 12 and all((out / link).is_file() for link in links)
    assert page.count("data:image/png;base64,") == len(links) and not re.search(r'src="(?!data:)', page)
    numbers = json.loads((out / "report.json").read_text())

    infogan_runs = sorted(p for p in runs.iterdir() if p.name.endswith(("fake-seed0", "fake-seed1")))
    accs = []
    for run in infogan_runs:  # the classifier table quotes the metric files
        record = read_jsonl(run / "metric-code_acc_fake_test.jsonl")[-1]
        accs.append(record["accuracy"])
        row = next(line for line in md.splitlines() if re.match(rf"\| {run.name} \| \d \| 4 \|", line))
        assert f"{100 * record['accuracy']:.2f}%" in row and f"{record['nmi']:.4f}" in row
        attrs = read_jsonl(run / "metric-code_attributes_3x9.jsonl")[-1]
        rho = attrs["codes"]["c2"]["slant"]["rho_mean"]
        assert f"| {run.name} | c2 | {rho:.3f}" in md
        assert numbers["classifier"]["per_run"][run.name]["accuracy"] == record["accuracy"]
    assert numbers["classifier"]["accuracy"]["mean"] == pytest.approx(np.mean(accs))
    fids = []
    for run in infogan_runs:  # What G draws quotes the FID files, floor beside it
        fid = read_jsonl(run / "metric-fid_mnistnet_fake_n200.jsonl")[-1]
        fids.append(fid["fid"])
        row = next(line for line in md.splitlines() if line.startswith(f"| {run.name} | fake |"))
        assert f"| {fid['fid']:.3f} | {fid['floor']:.3f} |" in row
        assert numbers["what_g_draws"]["per_run"][run.name]["FID"] == fid["fid"]
    assert numbers["what_g_draws"]["per_preset"]["fake"]["FID"]["mean"] == pytest.approx(np.mean(fids))
    assert f"{100 * np.mean(accs):.2f}%" in md

    # Figure 1: the InfoGAN value at the baselines' horizon (step 2) is the mean of the stats lines
    values = [r["L_I/c1"] for run in infogan_runs for r in read_jsonl(run / "stats.jsonl") if r["step"] == 2]
    assert numbers["figure1"]["horizon"] == 2 and numbers["figure1"]["infogan_final"] == pytest.approx(np.mean(values))
    assert f"L_I(c1) = {np.mean(values):.4f} nats at iteration 2" in md
    assert "ln 10 = 2.3026" in md
    assert (out / "configs" / f"{infogan_runs[0].name}.json").is_file()


def test_rebuilding_reuses_the_metric_files(built, tmp_path):
    runs, out, _ = built
    files = sorted(runs.glob("*/metric-*.jsonl"))
    lines = {f: len(read_jsonl(f)) for f in files}
    # code_acc, attributes, info, fid, kid, prd and purity of the two InfoGAN runs
    assert len(files) == 14 and set(lines.values()) == {1}
    build_report(sorted(p for p in runs.iterdir() if p.name[0].isdigit()), tmp_path / "again", attribute_draws=3,
                 quality_samples=200, echo=lambda _: None)
    assert {f: len(read_jsonl(f)) for f in files} == lines
    assert (out / "report.md").read_text().split("## Runs")[0] == \
        (tmp_path / "again" / "report.md").read_text().split("## Runs")[0]


def test_report_errors(built, tmp_path, capsys):
    assert main(["report", str(tmp_path / "nothing-here")]) == 2
    err = capsys.readouterr().err
    assert "not a run folder" in err and "Traceback" not in err
    one = str(next(p for p in built[0].iterdir() if p.name[0].isdigit()))
    with pytest.raises(ConfigError, match="given twice"):
        find_runs([one, one])


def test_baselines_are_told_apart_by_their_config(tiny_config):
    assert not tiny_config.is_baseline
    assert tiny_config.replace(optim={"info_to_g": False}).is_baseline
    base = infogan.get_preset("mnist").as_baseline()
    assert base.is_baseline and base.preset == "mnist-baseline" and base.as_baseline() == base


def test_curve_band_and_figure1_numbers():
    runs = [[{"step": 10, "k": 1.0}, {"step": 20, "k": 2.0}, {"step": 30, "k": 0.5}],
            [{"step": 10, "k": 3.0}, {"step": 20, "k": 2.0}]]
    band = analysis.curve_band(runs, "k")
    assert band["steps"] == [10, 20] and band["mean"] == [2.0, 2.0] and band["min"] == [1.0, 2.0]
    assert band["sd"][0] == pytest.approx(np.std([1, 3], ddof=1))
    assert analysis.curve_band(runs, "k", horizon=10)["steps"] == [10]
    nums = analysis.figure1_numbers(band, analysis.curve_band(runs[:1], "k"), ceiling=np.log(10))
    assert nums["baseline_peak"] == 2.0 and nums["baseline_peak_step"] == 20 and nums["baseline_final"] == 0.5
    assert nums["infogan_fraction_of_ceiling"] == pytest.approx(2.0 / np.log(10))
    s = analysis.summary([0.9, 0.95, 1.0])
    assert s["mean"] == pytest.approx(0.95) and s["sd"] == pytest.approx(0.05) and s["min"] == 0.9
    assert analysis.summary([0.5])["sd"] is None


def test_metric_curves_band_each_metric_recorded_at_two_steps():
    def rec(step, **kw):
        return {"metric": "m", "step": step, "seconds": 1.0, **kw}

    runs = [{"shape_n2000": [rec(2, score=0.2), rec(4, score=0.4), rec(4, score=0.5), rec(6, score=0.6)],
             "fid_n200": [rec(2, fid=9.0, floor=0.1), rec(4, fid=7.0, floor=0.1)],
             "info_bound_n200": [rec(2, c1=-0.3), rec(4, c1=-0.2)],  # one number per code: no curve
             "factorvae_10k": [rec(6, score=0.7)]},  # one step: no curve
            {"shape_n2000": [rec(2, score=0.0), rec(4, score=0.1)]}]
    curves = analysis.metric_curves(runs)
    assert sorted(curves) == ["fid_n200: fid", "shape_n2000: score"]
    shape = curves["shape_n2000: score"]  # the steps both runs share; the last record of a step counts
    assert shape["steps"] == [2, 4] and shape["mean"] == pytest.approx([0.1, 0.3]) and shape["n"] == 2
    assert shape["max"] == pytest.approx([0.2, 0.5])
    assert curves["fid_n200: fid"]["n"] == 1 and curves["fid_n200: fid"]["mean"] == [9.0, 7.0]
    assert analysis.metric_curves([{"shape_n2000": [rec(2, score=0.2)]}, {"shape_n2000": [rec(4, score=0.1)]}]) == {}


def test_training_curves_draw_the_metric_files(tmp_path, tiny_config):
    from infogan.reproduce.report import sections
    from infogan.reproduce.report.runs import RunRecord
    from infogan.storage import append_jsonl

    folder = tmp_path / "run"
    folder.mkdir()
    for step, score in ((2, 0.1), (4, 0.3)):
        append_jsonl(folder / "metric-shape_dspritesnet_n2000.jsonl", {"metric": "shape", "step": step, "score": score})
    stats = [{"step": s, "gan_d": 1.3, "gan_g": 0.7, "d_real": 0.5, "d_fake": 0.5} for s in (2, 4)]
    out = tmp_path / "report"
    section = sections.training_curves([sections.RunResult(RunRecord(folder, tiny_config, stats))], out)
    images = [b for b in section.blocks if getattr(b, "path", "").endswith("metric_curves.png")]
    assert len(images) == 1 and "protocol" in images[0].caption
    assert (out / images[0].path).read_bytes().startswith(b"\x89PNG")
    (folder / "metric-shape_dspritesnet_n2000.jsonl").unlink()  # no metric curve: no panel
    section = sections.training_curves([sections.RunResult(RunRecord(folder, tiny_config, stats))], tmp_path / "r2")
    assert not any(getattr(b, "path", "").endswith("metric_curves.png") for b in section.blocks)


def test_merged_and_split_digits():
    conf = np.diag([100] * 10)  # rows: categories, columns: digits, 100 test images per digit
    conf[3, 3] = 0  # digit 3 absent, category 3 never predicted
    conf[4, 9], conf[9, 9] = 90, 10  # category 4 takes most of digit 9: 4 and 9 merged
    conf[2, 7], conf[7, 7] = 45, 55  # digit 7 split over categories 7 and 2
    mapping = {str(i): i for i in range(10)}
    result = analysis.merged_and_split(conf.tolist(), mapping)
    assert [m["category"] for m in result["merged"]] == [4]
    assert [d["digit"] for d in result["merged"][0]["digits"]] == [4, 9]
    assert [(s["digit"], [c["category"] for c in s["categories"]]) for s in result["split"]] == [(7, [7, 2])]
    assert result["unused"] == [3] and result["recall"][9] == pytest.approx(0.1)
    lines = analysis.describe_merges(result)
    assert any("digits 4 (100%), 9 (90%)" in line for line in lines) and any("digit 7" in line for line in lines)
    assert analysis.describe_merges(analysis.merged_and_split(np.diag([5] * 10).tolist(), mapping))[0].startswith("no digit")
