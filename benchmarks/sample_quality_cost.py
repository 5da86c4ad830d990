"""What the sample-quality metrics cost on this machine, stage by stage, and their real-vs-real floors.

    python benchmarks/sample_quality_cost.py                  # 10,000 samples, one thread
    python benchmarks/sample_quality_cost.py --samples 2000

Stages, each timed on its own (one thread): embedding the 10,000 MNIST test images and the floor's
training subset with the digit network; drawing ``--samples`` images from G (the MNIST preset's
architecture; the cost does not depend on the weights) and embedding them; then each statistic on
precomputed features (FID, KID with 100 subsets of 1,000, precision/recall with k = 3), the floors, and the
purity driver end to end. Writes ``benchmarks/results/sample_quality_cost-<date>.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, table, write_result

import infogan
from infogan.metrics import sample_quality_eval as sqe
from infogan.metrics.sample_quality import (
    frechet_distance,
    kernel_distance,
    precision_recall,
)
from infogan.models import build_model


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, round(time.perf_counter() - t, 3)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=10_000)
    p.add_argument("--data-dir", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    n = args.samples

    rows = []
    _, s = timed(lambda: sqe._extractor("mnistnet", None))
    rows.append({"stage": "load digit network (hash check)", "seconds": s})
    real, s = timed(lambda: sqe.real_features("mnist", args.data_dir, "mnistnet", None, "test"))
    rows.append({"stage": f"embed {len(real)} test images", "seconds": s})
    train, s = timed(lambda: sqe.real_features("mnist", args.data_dir, "mnistnet", None, "train", n))
    rows.append({"stage": f"embed {len(train)} training images (floor)", "seconds": s})

    torch.manual_seed(0)
    model = build_model(infogan.get_preset("mnist").model).eval()
    fake, s = timed(lambda: sqe.generated_features(model, "mnistnet", n))
    rows.append({"stage": f"generate + embed {n} samples", "seconds": s})

    stats = {}
    stats["fid"], s = timed(lambda: frechet_distance(real, fake))
    rows.append({"stage": "FID statistic", "seconds": s})
    stats["kid"], s = timed(lambda: kernel_distance(real, fake))
    rows.append({"stage": f"KID statistic (100 subsets of {stats['kid']['subset_size']})", "seconds": s})
    stats["prd"], s = timed(lambda: precision_recall(real, fake))
    rows.append({"stage": "precision/recall statistic (k=3)", "seconds": s})
    floors = {}
    floors["fid"], s = timed(lambda: frechet_distance(real, train))
    rows.append({"stage": "FID floor", "seconds": s})
    floors["kid"], s = timed(lambda: kernel_distance(real, train))
    rows.append({"stage": "KID floor", "seconds": s})
    floors["prd"], s = timed(lambda: precision_recall(real, train))
    rows.append({"stage": "precision/recall floor", "seconds": s})
    purity, s = timed(lambda: sqe.purity_driver(model, "mnist", args.data_dir, num_samples=n))
    rows.append({"stage": f"purity driver ({purity['per_category_samples']} x 10 samples, end to end)",
                 "seconds": s})

    print(table(rows, ["stage", "seconds"]))
    print(f"floors: FID {floors['fid']:.4f}  KID {floors['kid']['kid']:.6f} +- {floors['kid']['kid_std']:.6f}  "
          f"precision {floors['prd']['precision']:.4f}  recall {floors['prd']['recall']:.4f}")
    print(f"untrained G: FID {stats['fid']:.1f}  KID {stats['kid']['kid']:.4f}  precision "
          f"{stats['prd']['precision']:.4f}  recall {stats['prd']['recall']:.4f}  purity {purity['purity']:.3f}")
    payload = {"benchmark": "sample_quality_cost", "samples": n, "num_real": len(real), "stages": rows,
               "floors": floors, "untrained_generator": {**stats, "purity": purity["purity"], "nmi": purity["nmi"]},
               "test_digits_by_label": {"purity": purity["real_purity"], "nmi": purity["real_nmi"]},
               "machine": machine_info(torch.device("cpu"))}
    print(f"result: {write_result('sample_quality_cost', payload)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
