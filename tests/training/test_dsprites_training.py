"""The dsprites preset end to end: a short run on a small rendered subset gives finite disentanglement metrics."""

import math

import pytest

import infogan
from infogan.latent.syntax import format_latent
from infogan.metrics import default_metrics, evaluate


@pytest.mark.slow
def test_short_dsprites_run_produces_finite_metrics(tmp_path):
    cfg = infogan.get_preset("dsprites").replace(
        data={"subset": 512, "data_dir": str(tmp_path / "data")},
        train={"iterations": 4, "batch_size": 16, "tick": 2, "snapshot_every": 2, "precision": "fp32"})
    result = infogan.train(cfg, outdir=tmp_path / "runs", progress=False)
    model = infogan.load(result.run_dir)
    assert model.config.spectral_norm and format_latent(model.spec).startswith("noise5")
    # reduced sample counts keep this under a minute on 2 cores; the protocol names record them
    results = evaluate(model, ["mig", "sap"], num_samples=200, run_dir=result.run_dir)
    results.update(evaluate(model, ["factorvae", "betavae", "dci"], num_samples=20, run_dir=result.run_dir))
    assert set(results) == {"mig_dsprites_n200", "sap_dsprites_n200_100", "factorvae_dsprites_n20_10",
                            "betavae_dsprites_n20_10", "dci_dsprites_n20_10"}
    for protocol, r in results.items():
        assert math.isfinite(r["score"]), protocol
        assert (result.run_dir / f"metric-{protocol}.jsonl").exists()
    assert not (tmp_path / "data" / "dsprites").exists()  # a subset renders on demand, no full cache


def test_metric_registry_says_which_metrics_apply():
    assert {"mig", "factorvae", "dci", "sap", "betavae", "info"} <= set(default_metrics("dsprites"))
    assert "mig" not in default_metrics("mnist") and "code_acc" in default_metrics("mnist")
