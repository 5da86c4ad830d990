"""Train the digit feature network of the sample-quality metrics (FID/KID/PRD/purity on MNIST) from a seed.

    python benchmarks/train_feature_net.py --seed 0                # the shipped weights file
    python benchmarks/train_feature_net.py --subset 512 --epochs 1 --out /tmp/w.safetensors   # smoke test

Trains :class:`infogan.metrics.feature_nets.DigitFeatureNet` on the MNIST training split with one thread:
SGD with Nesterov momentum, a linear warm-up then cosine decay of the learning rate, weight decay, and
random shifts of up to 2 pixels; initialisation, shuffling and shifts all come from the seed (the global
RNG is used only inside a fork seeded from it), so a seed gives the same file on the same machine and
software. Reports the accuracy on the MNIST test split, refuses to write a network under 99% (unless
``--subset``), writes the safetensors file atomically, prints its SHA-256 (record it in
``infogan/metrics/feature_nets.py``) and writes a JSON result to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, write_result

from infogan.data import load_dataset
from infogan.metrics.feature_nets import DigitFeatureNet, weights_path
from infogan.metrics.shipped import state_bytes
from infogan.storage import atomic_write

MIN_ACCURACY = 0.99
SHIFT = 2  # pixels of random translation each way


def shift_batch(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Translate each uint8 image (B, 1, 28, 28) by a random whole number of pixels in [-SHIFT, SHIFT]."""
    b, _, h, w = images.shape
    padded = F.pad(images, (SHIFT, SHIFT, SHIFT, SHIFT))  # (B, 1, 32, 32), zero = background
    dy, dx = torch.randint(0, 2 * SHIFT + 1, (2, b), generator=generator)
    rows = dy[:, None] + torch.arange(h)  # (B, 28)
    cols = dx[:, None] + torch.arange(w)  # (B, 28)
    out = padded[torch.arange(b)[:, None, None], 0, rows[:, :, None], cols[:, None, :]]  # (B, 28, 28)
    return out.unsqueeze(1)


@torch.no_grad()
def accuracy(net: DigitFeatureNet, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of ``images`` classified as ``labels`` (eval mode)."""
    net.eval()
    return float((net.classify(images) == labels).float().mean())


def train(seed: int, epochs: int, train_images: torch.Tensor, train_labels: torch.Tensor, *,
          batch_size: int = 128, lr: float = 0.1, weight_decay: float = 5e-4, log=print) -> DigitFeatureNet:
    """Train a fresh network; every random draw derives from ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = DigitFeatureNet()
    gen = torch.Generator().manual_seed(seed)
    decay = [p for n, p in net.named_parameters() if p.ndim > 1]
    other = [p for n, p in net.named_parameters() if p.ndim <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": weight_decay}, {"params": other, "weight_decay": 0.0}],
                          lr=lr, momentum=0.9, nesterov=True)
    n = len(train_images)
    steps_per_epoch = math.ceil(n / batch_size)
    total, warmup = epochs * steps_per_epoch, min(200, epochs * steps_per_epoch // 10)
    step = 0
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(n, generator=gen)
        seen, loss_sum, t0 = 0, 0.0, time.perf_counter()
        for idx in order.split(batch_size):
            factor = (step + 1) / warmup if step < warmup else \
                0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))
            for group in opt.param_groups:
                group["lr"] = lr * factor
            x = shift_batch(train_images[idx], gen)
            loss = F.cross_entropy(net.logits(x), train_labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            seen += len(idx)
            loss_sum += loss.item() * len(idx)
        log(f"epoch {epoch + 1}/{epochs}: loss {loss_sum / seen:.4f}  ({time.perf_counter() - t0:.0f} s)")
    net.eval()
    return net


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--subset", type=int, help="train on the first N training images and test on the first N test "
                                              "images (smoke tests; the 99%% floor is then not enforced)")
    p.add_argument("--out", type=Path, default=None, help="weights file (default: the shipped one in the package)")
    p.add_argument("--result", type=Path, default=None, help="JSON result file (default: benchmarks/results/...)")
    p.add_argument("--data-dir", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)

    train_data = load_dataset("mnist", split="train", data_dir=args.data_dir, subset=args.subset)
    test_data = load_dataset("mnist", split="test", data_dir=args.data_dir, subset=args.subset)
    t0 = time.perf_counter()
    net = train(args.seed, args.epochs, train_data.images, train_data.labels)
    train_seconds = time.perf_counter() - t0
    acc = accuracy(net, test_data.images, test_data.labels)
    print(f"test accuracy {100 * acc:.2f}% on {len(test_data)} images; training {train_seconds:.0f} s")
    if args.subset is None and acc < MIN_ACCURACY:
        print(f"below {100 * MIN_ACCURACY:.0f}%: nothing written (try more --epochs or another --seed)")
        return 1

    data = state_bytes(net, arch=f"DigitFeatureNet-{net.num_features}")
    out = args.out or weights_path("mnist")
    atomic_write(out, lambda tmp: tmp.write_bytes(data))
    digest = hashlib.sha256(data).hexdigest()
    params = sum(t.numel() for t in net.parameters())
    print(f"wrote {out} ({len(data)} bytes, {params} parameters)\nSHA-256 {digest}")
    payload = {"benchmark": "train_feature_net", "seed": args.seed, "epochs": args.epochs,
               "train_images": len(train_data), "test_images": len(test_data), "test_accuracy": round(acc, 5),
               "seconds": round(train_seconds, 1), "parameters": params, "file_bytes": len(data),
               "sha256": digest, "machine": machine_info(torch.device("cpu"))}
    name = f"train_feature_net-seed{args.seed}" + (f"-subset{args.subset}" if args.subset else "")
    print(f"result: {write_result(name, payload, args.result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
