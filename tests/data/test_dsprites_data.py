"""dSprites renderer, factor bookkeeping, cache and DeepMind npz reader (never renders the full set)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from infogan.data import dsprites
from infogan.errors import DataError


def _classes(shape=0, scale=5, orientation=0, pos_x=16, pos_y=16, n=1) -> np.ndarray:
    return np.tile(np.array([[shape, scale, orientation, pos_x, pos_y]], dtype=np.int64), (n, 1))


def _centroid(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Area centroid (x, y) in pixels of {0,1} images (N, 64, 64); pixel i covers [i, i+1)."""
    grid = np.arange(64) + 0.5
    area = images.sum(axis=(1, 2))
    return (images.sum(axis=1) * grid).sum(1) / area, (images.sum(axis=2) * grid).sum(1) / area


def test_full_grid_counts_and_canonical_order():
    classes = dsprites.all_factor_classes()
    assert classes.shape == (737_280, 5) == (dsprites.NUM_IMAGES, 5)
    assert (classes.max(axis=0) + 1).tolist() == list(dsprites.FACTOR_SIZES) == [3, 6, 40, 32, 32]
    assert classes[1].tolist() == [0, 0, 0, 0, 1]  # pos_y varies fastest
    assert classes[32].tolist() == [0, 0, 0, 1, 0]
    assert classes[32 * 32 * 40 * 6].tolist() == [1, 0, 0, 0, 0]  # shape slowest
    idx = np.random.default_rng(0).integers(0, dsprites.NUM_IMAGES, size=100)
    assert np.array_equal(classes[idx], np.stack(np.unravel_index(idx, dsprites.FACTOR_SIZES), axis=1))
    assert len(np.unique(classes, axis=0)) == dsprites.NUM_IMAGES


def test_factor_values_match_deepmind_grid_and_invert():
    classes = dsprites.all_factor_classes()[::997]
    values = dsprites.factor_values(classes)
    assert values[:, 0].min() == 1 and values[:, 0].max() == 3
    last = dsprites.factor_values(np.array([[2, 5, 39, 31, 31]]))[0]
    assert np.allclose(last, [3, 1.0, 2 * np.pi, 1.0, 1.0])
    assert np.allclose(dsprites.factor_values(np.array([[0, 1, 1, 1, 0]]))[0], [1, 0.6, 2 * np.pi / 39, 1 / 31, 0])
    assert np.array_equal(dsprites.factor_classes_from_values(values.astype(np.float32)), classes)
    with pytest.raises(DataError, match="off the grid"):
        dsprites.factor_classes_from_values(values + 0.013)


def test_centroid_follows_position():
    # the shape's area centroid is placed at 8.75 + 1.5 * class px; pixelisation moves it < 0.6 px
    rng = np.random.default_rng(1)
    classes = dsprites.sample_factor_classes(rng, 300)
    cx, cy = _centroid(dsprites.render_dsprites(classes).astype(np.float64))
    assert np.abs(cx - (8.75 + 1.5 * classes[:, 3])).max() < 0.6
    assert np.abs(cy - (8.75 + 1.5 * classes[:, 4])).max() < 0.6
    sweep = np.repeat(_classes(shape=2, orientation=7), 32, axis=0)
    sweep[:, 3] = np.arange(32)
    cx, cy = _centroid(dsprites.render_dsprites(sweep).astype(np.float64))
    assert np.all(np.diff(cx) > 1.0) and np.ptp(cy) < 0.6  # pos_x moves right only


def test_area_grows_with_scale():
    for shape in range(3):
        for orientation in (0, 13):
            classes = np.repeat(_classes(shape=shape, orientation=orientation), 6, axis=0)
            classes[:, 1] = np.arange(6)
            area = dsprites.render_dsprites(classes).sum(axis=(1, 2))
            assert np.all(np.diff(area) > 0), (shape, orientation, area)
            assert 2.5 < area[-1] / area[0] < 5.5  # area ~ scale^2 = 4, up to pixelisation


def test_shapes_differ_and_orientation_matters():
    images = dsprites.render_dsprites(np.concatenate([_classes(shape=s, orientation=3) for s in range(3)]))
    for a in range(3):
        for b in range(a + 1, 3):
            assert (images[a] != images[b]).sum() > 10
    for shape, turn in ((0, 5), (2, 10)):  # square at 46 degrees, heart at 92 degrees
        pair = dsprites.render_dsprites(np.concatenate([_classes(shape=shape), _classes(shape=shape, orientation=turn)]))
        assert (pair[0] != pair[1]).sum() > 10
        full_turn = dsprites.render_dsprites(np.concatenate([_classes(shape=shape), _classes(shape=shape, orientation=39)]))
        assert np.array_equal(full_turn[0], full_turn[1])  # 0 and 2 pi draw the same sprite, as DeepMind's


def test_sprites_never_leave_the_frame():
    # a clipped sprite would lose area; at the extreme positions the area must equal that of the same
    # template two classes inwards (same sub-pixel phase), for every shape and orientation at scale 1
    base = dsprites.all_factor_classes()
    base = base[(base[:, 1] == 5) & np.isin(base[:, 3], [0, 31]) & np.isin(base[:, 4], [0, 31])]
    inner = base.copy()
    inner[:, 3] = np.where(base[:, 3] == 0, 2, 29)
    inner[:, 4] = np.where(base[:, 4] == 0, 2, 29)
    edge_area = dsprites.render_dsprites(base).sum(axis=(1, 2))
    assert np.array_equal(edge_area, dsprites.render_dsprites(inner).sum(axis=(1, 2)))


def test_render_output_and_bad_classes():
    images = dsprites.render_dsprites(_classes(n=3))
    assert images.shape == (3, 64, 64) and images.dtype == np.uint8
    assert set(np.unique(images).tolist()) == {0, 1}
    with pytest.raises(DataError, match="pos_x"):
        dsprites.render_dsprites(_classes(pos_x=32))
    with pytest.raises(DataError, match="shape"):
        dsprites.render_dsprites(np.zeros((2, 4), dtype=np.int64))
    with pytest.raises(DataError, match="integers"):
        dsprites.render_dsprites(_classes().astype(np.float32))


def test_sample_factor_classes_fixed_factor():
    rng = np.random.default_rng(0)
    classes = dsprites.sample_factor_classes(rng, 500, fixed_factor=2, fixed_value=17)
    assert classes.shape == (500, 5) and np.all(classes[:, 2] == 17)
    assert len(np.unique(classes[:, 3])) > 20  # the others stay random
    with pytest.raises(DataError, match="outside"):
        dsprites.sample_factor_classes(rng, 5, fixed_factor=0, fixed_value=3)


def test_load_subset_renders_on_demand(tmp_path):
    data = dsprites.load_dsprites(tmp_path, subset=40, seed=3)
    assert data.name == "dsprites" and data.images.shape == (40, 1, 64, 64)
    assert data.images.dtype == torch.uint8 and set(data.images.unique().tolist()) == {0, 255}
    assert data.factor_names == ("shape", "scale", "orientation", "pos_x", "pos_y")
    classes = dsprites.dsprites_factor_classes(data)
    assert np.array_equal(data.labels.numpy(), classes[:, 0])
    assert np.array_equal(data.images[:, 0].numpy() // 255, dsprites.render_dsprites(classes))
    assert np.allclose(data.factors.numpy(), dsprites.factor_values(classes), atol=1e-6)
    again = dsprites.load_dsprites(tmp_path, subset=40, seed=3)
    assert torch.equal(again.images, data.images)
    assert not any(tmp_path.iterdir())  # a subset writes no cache
    with pytest.raises(DataError, match="subset"):
        dsprites.load_dsprites(tmp_path, subset=0)


def test_full_cache_is_written_once_and_reused(tmp_path, monkeypatch):
    # shrink "the full set" to 64 images so that the cache path runs in milliseconds
    small = dsprites.all_factor_classes()[::11520]
    monkeypatch.setattr(dsprites, "all_factor_classes", lambda: small.copy())
    monkeypatch.setattr(dsprites, "NUM_IMAGES", len(small))
    first = dsprites.load_dsprites(tmp_path)
    assert [p.name for p in (tmp_path / "dsprites").iterdir()] == [dsprites.CACHE_FILE]  # no temp file left
    monkeypatch.setattr(dsprites, "render_dsprites", lambda *a, **k: pytest.fail("cache not reused"))
    second = dsprites.load_dsprites(tmp_path)
    assert torch.equal(first.images, second.images) and len(second) == len(small)
    (tmp_path / "dsprites" / dsprites.CACHE_FILE).write_bytes(b"not a zip")
    with pytest.raises(DataError, match="delete it"):
        dsprites.load_dsprites(tmp_path)


def _write_deepmind_like(path, n=6, **override):
    classes = dsprites.all_factor_classes()[:: dsprites.NUM_IMAGES // n][:n]
    arrays = {
        "imgs": dsprites.render_dsprites(classes),
        "latents_values": np.concatenate([np.ones((n, 1)), dsprites.factor_values(classes)], axis=1),
        "latents_classes": np.concatenate([np.zeros((n, 1), dtype=np.int64), classes], axis=1),
    }
    arrays.update(override)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return classes


def test_deepmind_npz_reader(tmp_path):
    path = tmp_path / dsprites.DEEPMIND_FILE
    classes = _write_deepmind_like(path)
    data = dsprites.load_dsprites(npz_path=path)
    assert data.images.shape == (6, 1, 64, 64) and set(data.images.unique().tolist()) == {0, 255}
    assert np.array_equal(dsprites.dsprites_factor_classes(data), classes)
    assert np.array_equal(data.labels.numpy(), classes[:, 0])
    assert len(dsprites.load_dsprites(npz_path=path, subset=4)) == 4


@pytest.mark.parametrize(
    "override, message",
    [
        ({"latents_classes": None}, "lacks the keys"),
        ({"imgs": np.zeros((6, 32, 32), dtype=np.uint8)}, "expected imgs"),
        ({"imgs": np.full((6, 64, 64), 255, dtype=np.uint8)}, "binary"),
        ({"latents_values": np.array([{"a": 1}] * 6, dtype=object)}, "without pickles"),
    ],
)
def test_bad_npz_raises_data_error(tmp_path, override, message):
    path = tmp_path / "bad.npz"
    _write_deepmind_like(path, **override)
    with pytest.raises(DataError, match=message):
        dsprites.load_dsprites(npz_path=path)


def test_missing_npz_raises_data_error(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        dsprites.load_dsprites(npz_path=tmp_path / "nope.npz")
