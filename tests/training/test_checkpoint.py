"""Snapshots describe themselves; resume continues bit-identically; foreign files are refused clearly."""

import json

import pytest
import torch

import infogan
from infogan import snapshot
from infogan.errors import CheckpointError
from infogan.training import state as resume_state


def test_snapshot_round_trip(tiny_run):
    model = infogan.load(tiny_run.run_dir)
    assert model.step == 4 and model.run_config.preset == "fake"
    again = infogan.load(tiny_run.run_dir / "snapshot.safetensors")
    for (k, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), k
    x1 = infogan.generate(model, codes=[2, 0.5, -0.5], z=torch.zeros(2, 62))
    x2 = infogan.generate(again, codes=[2, 0.5, -0.5], z=torch.zeros(2, 62))
    assert torch.equal(x1, x2)


ARCH_PRESETS = {"mnist": "mnist", "svhn": "svhn", "faces": "faces-azimuth", "chairs": "chairs-rotation",
                "dsprites": "dsprites", "dsprites-coord": "dsprites", "dsprites-broadcast": "dsprites",
                "dsprites-mbstd": "dsprites", "dsprites-cr": "dsprites-cr", "dsprites-cr-g": "dsprites",
                "dsprites-cr-g-maxpool": "dsprites"}


def test_every_registered_architecture_has_a_round_trip_case():
    from infogan.models import ARCHITECTURES

    assert set(ARCHITECTURES) - {"tiny"} == set(ARCH_PRESETS)  # a new architecture needs a case here


@pytest.mark.parametrize("arch", sorted(ARCH_PRESETS))
def test_snapshot_round_trip_of_every_architecture(arch, tmp_path):
    cfg = infogan.get_preset(ARCH_PRESETS[arch])
    cfg = cfg if cfg.model.arch == arch else cfg.replace(model={"arch": arch})  # an architecture without a preset
    torch.manual_seed(0)
    model = infogan.models.build_model(cfg.model).eval()
    path = snapshot.save_snapshot(model, tmp_path / "snapshot.safetensors", config=cfg, step=3)
    again = infogan.load(path)
    assert again.step == 3 and again.run_config == cfg and type(again.D) is type(model.D)
    z = torch.zeros(3, cfg.model.latent.noise.dim)
    x1 = infogan.generate(model, z=z, generator=torch.Generator().manual_seed(1))
    x2 = infogan.generate(again, z=z, generator=torch.Generator().manual_seed(1))
    assert torch.equal(x1, x2)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(model.D(x1), again.D(x1)))


def test_run_folder_contents(tiny_run):
    names = {p.name for p in tiny_run.run_dir.iterdir()}
    assert {"config.json", "stats.jsonl", "snapshot.safetensors", "state.pt", "samples"} <= names
    assert any(n.startswith("events.out.tfevents") for n in names)
    stats = [json.loads(line) for line in (tiny_run.run_dir / "stats.jsonl").read_text().splitlines()]
    assert [s["step"] for s in stats] == [2, 4] and "L_I/c1" in stats[0]
    assert len(list((tiny_run.run_dir / "samples").glob("*.png"))) == 2


def test_runs_are_never_overwritten(tmp_path, tiny_config, fake_data):
    a = infogan.train(tiny_config, outdir=tmp_path, data=fake_data, progress=False)
    b = infogan.train(tiny_config, outdir=tmp_path, data=fake_data, progress=False)
    assert a.run_dir != b.run_dir and a.run_dir.name.startswith("00000-") and b.run_dir.name.startswith("00001-")


def test_resume_is_bit_identical(tmp_path, tiny_config, fake_data):
    full = infogan.train(tiny_config, outdir=tmp_path / "a", data=fake_data, progress=False)
    half = infogan.train(tiny_config.replace(train={"iterations": 2}), outdir=tmp_path / "b", data=fake_data,
                         progress=False)
    resumed = infogan.train(resume=half.run_dir, iterations=4, data=fake_data, progress=False)
    assert resumed.step == 4
    a = resume_state.load_state(full.run_dir / "state.pt")
    b = resume_state.load_state(resumed.run_dir / "state.pt")
    for key in a.model:
        assert torch.equal(a.model[key], b.model[key]), key
    steps = [json.loads(line)["step"] for line in (resumed.run_dir / "stats.jsonl").read_text().splitlines()]
    assert steps == [2, 4]


def test_incompatible_snapshot_names_the_tensors(tiny_run, tmp_path):
    other = infogan.get_preset("fake").replace(model={"latent": infogan.parse_latent("noise62,cat5,unif2")})
    from infogan.models import build_model

    model = build_model(other.model)
    tensors = snapshot.read_snapshot(tiny_run.run_dir)[1]
    with pytest.raises(CheckpointError, match="D.q_head.1.weight"):
        snapshot.load_weights(model, tensors, source="x")


def test_corrupt_and_foreign_files_are_refused(tmp_path, tiny_run):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 20)
    with pytest.raises(CheckpointError, match="not a readable"):
        infogan.load(bad)
    truncated = tmp_path / "trunc.safetensors"
    truncated.write_bytes((tiny_run.run_dir / "snapshot.safetensors").read_bytes()[:5000])
    with pytest.raises(CheckpointError):
        infogan.load(truncated)
    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(CheckpointError, match="no infogan metadata"):
        infogan.load(foreign)
    with pytest.raises(CheckpointError, match="no snapshot"):
        infogan.load(tmp_path)


def test_malicious_pickle_is_refused(tmp_path):
    import os
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    path = tmp_path / "state.pt"
    with open(path, "wb") as fh:
        pickle.dump({"step": 1, "config": "{}", "x": Evil()}, fh)
    with pytest.raises(CheckpointError, match="refused"):
        resume_state.load_state(path)
    assert not (tmp_path / "pwned").exists()
