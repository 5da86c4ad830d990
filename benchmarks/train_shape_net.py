"""Train the dSprites shape classifier of the ``shape`` metric and write its weights and a result file.

    python benchmarks/train_shape_net.py --seed 0      # the shipped weights (one CPU thread, a minute or two)

Every step draws a fresh batch: 3/4 renders of uniformly drawn factor combinations (``sample_factor_classes``
+ ``render_dsprites``; half of them mildly blurred, some with a faint haze or pixel noise, so that the soft
edges of G's sigmoid outputs read as shapes) with their shape labels, and 1/4 non-shapes (discs, binary or
blurred; isotropic Gaussian blobs; sprites blurred by 1.5 px or more; sparse speckle) whose target is the
uniform distribution over the three shapes (outlier exposure, Hendrycks et al., ICLR 2019), so that the
classifier is unsure about what is not a dSprites shape. Adam with a one-cycle learning rate.

The held-out set is renders of ``--test-size`` factor combinations that training never draws (collisions are
redrawn). The weights go to ``src/infogan/metrics/weights/dsprites_shapes.safetensors`` and the numbers (accuracy,
confident share, seconds, CPU, torch version, SHA-256) to ``benchmarks/results/``. A rebuilt file has its own
SHA-256 (another CPU or torch version gives other weights): put the printed digest into
``infogan.metrics.shape_net.WEIGHTS_SHA256``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, write_result  # noqa: E402

from infogan.data.dsprites import (  # noqa: E402
    FACTOR_SIZES,
    SHAPE_NAMES,
    render_dsprites,
    sample_factor_classes,
)
from infogan.metrics.shape_net import WEIGHTS_PATH, ShapeNet  # noqa: E402
from infogan.metrics.shape_score import CONFIDENCE_THRESHOLD  # noqa: E402
from infogan.metrics.shipped import file_sha256, state_bytes  # noqa: E402
from infogan.storage import atomic_write  # noqa: E402

_GRID_Y, _GRID_X = torch.meshgrid(torch.arange(64) + 0.5, torch.arange(64) + 0.5, indexing="ij")  # (64, 64)


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Blur each image (B, 1, 64, 64) with its own sigma (B,) in pixels (separable, 17 taps, zero padding)."""
    radius = 8
    t = torch.arange(-radius, radius + 1, dtype=x.dtype)
    k = torch.exp(-t[None] ** 2 / (2 * sigma.clamp(min=1e-3)[:, None] ** 2))
    k = k / k.sum(dim=1, keepdim=True)  # (B, 17)
    b = x.shape[0]
    y = F.conv2d(x.transpose(0, 1), k[:, None, None, :], padding=(0, radius), groups=b)  # (1, B, 64, 64)
    y = F.conv2d(y, k[:, None, :, None], padding=(radius, 0), groups=b)
    return y.transpose(0, 1)


def _uniform(n: int, low: float, high: float, g: torch.Generator, *shape: int) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, *shape, generator=g)


def draw_classes(rng: np.random.Generator, n: int, exclude: np.ndarray) -> np.ndarray:
    """``sample_factor_classes`` with the combinations in ``exclude`` (flat indices) redrawn."""
    classes = sample_factor_classes(rng, n)
    while True:
        bad = np.isin(np.ravel_multi_index(classes.T, FACTOR_SIZES), exclude)
        if not bad.any():
            return classes
        classes[bad] = sample_factor_classes(rng, int(bad.sum()))


def shapes(rng: np.random.Generator, n: int, g: torch.Generator,
           exclude: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Augmented renders (n, 1, 64, 64) in [0, 1] and their shape labels (n,)."""
    classes = draw_classes(rng, n, exclude)
    x = torch.from_numpy(render_dsprites(classes)).float().unsqueeze(1)
    sigma = torch.where(torch.rand(n, generator=g) < 0.5, _uniform(n, 0.2, 0.7, g), torch.zeros(n))
    x = torch.where(sigma.view(-1, 1, 1, 1) > 0, gaussian_blur(x, sigma), x)
    haze = (torch.rand(n, 1, 1, 1, generator=g) < 0.3) * _uniform(n, 0.0, 0.08, g, 1, 1, 1)
    noise = (torch.rand(n, 1, 1, 1, generator=g) < 0.3) * _uniform(n, 0.0, 0.05, g, 1, 1, 1)
    x = x + haze + noise * torch.randn(x.shape, generator=g)
    return x.clamp(0.0, 1.0), torch.from_numpy(classes[:, 0])


def non_shapes(rng: np.random.Generator, n: int, g: torch.Generator) -> torch.Tensor:
    """Images that are no dSprites shape (n, 1, 64, 64): discs, Gaussian blobs, blurred sprites, speckle."""
    cx, cy = _uniform(n, 8.75, 55.25, g, 1, 1), _uniform(n, 8.75, 55.25, g, 1, 1)
    d2 = (_GRID_X - cx) ** 2 + (_GRID_Y - cy) ** 2  # (n, 64, 64)
    disc = gaussian_blur((d2 <= _uniform(n, 3.0, 9.0, g, 1, 1) ** 2).float().unsqueeze(1), _uniform(n, 0.0, 2.5, g))
    blob = torch.exp(-d2 / (2 * _uniform(n, 1.5, 5.0, g, 1, 1) ** 2)).unsqueeze(1)
    sprite = torch.from_numpy(render_dsprites(sample_factor_classes(rng, n))).float().unsqueeze(1)
    sprite = gaussian_blur(sprite, _uniform(n, 1.5, 3.5, g))
    sprite = sprite / sprite.amax(dim=(1, 2, 3), keepdim=True).clamp(min=1e-6) * _uniform(n, 0.5, 1.0, g, 1, 1, 1)
    speckle = (torch.rand(n, 1, 64, 64, generator=g) < _uniform(n, 0.0, 0.05, g, 1, 1, 1)).float()
    kind = torch.randint(4, (n, 1, 1, 1), generator=g)
    return torch.where(kind == 0, disc, torch.where(kind == 1, blob, torch.where(kind == 2, sprite, speckle)))


def train_net(seed: int, steps: int, batch_size: int, lr: float, held_out: np.ndarray) -> tuple[ShapeNet, float]:
    """Train a ShapeNet from ``seed`` (eval mode on return) and the seconds it took."""
    torch.manual_seed(seed)
    net = ShapeNet().train()
    rng, g = np.random.default_rng([seed, 0]), torch.Generator().manual_seed(seed)
    n_neg = batch_size // 4
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    t0 = time.perf_counter()
    for step in range(steps):
        x_pos, y_pos = shapes(rng, batch_size - n_neg, g, held_out)
        logits = net(torch.cat([x_pos, non_shapes(rng, n_neg, g)]))
        pos, neg = logits[: len(y_pos)], logits[len(y_pos):]
        loss = F.cross_entropy(pos, y_pos) + 0.5 * -F.log_softmax(neg, dim=1).mean()  # OE weight 0.5 (Hendrycks)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps - 1:
            print(f"step {step:4d}  loss {loss.item():.4f}  {time.perf_counter() - t0:.1f} s", flush=True)
    return net.eval(), time.perf_counter() - t0


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--batch-size", type=int, default=128, help="3/4 shapes, 1/4 non-shapes")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--test-size", type=int, default=5000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--weights", type=Path, default=WEIGHTS_PATH)
    p.add_argument("--result", type=Path, default=None,
                   help="default: benchmarks/results/train_shape_net-seedN-DATE.json")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    test_rng = np.random.default_rng([args.seed, 1])
    test_classes = sample_factor_classes(test_rng, args.test_size)
    held_out = np.unique(np.ravel_multi_index(test_classes.T, FACTOR_SIZES))

    net, seconds = train_net(args.seed, args.steps, args.batch_size, args.lr, held_out)

    t1 = time.perf_counter()
    images = torch.from_numpy(render_dsprites(test_classes)).float().unsqueeze(1)
    probs = net.probabilities(images)
    pred, labels = probs.argmax(dim=1), torch.from_numpy(test_classes[:, 0])
    neg_probs = net.probabilities(non_shapes(test_rng, args.test_size, torch.Generator().manual_seed(args.seed + 1)))
    eval_seconds = time.perf_counter() - t1

    args.weights.parent.mkdir(parents=True, exist_ok=True)
    data = state_bytes(net, arch=f"ShapeNet-{','.join(SHAPE_NAMES)}")  # the same tensors always give these bytes
    atomic_write(args.weights, lambda tmp: tmp.write_bytes(data))
    machine = machine_info(torch.device("cpu"))
    payload = {
        "benchmark": "train_shape_net", "seed": args.seed, "steps": args.steps, "batch_size": args.batch_size,
        "lr": args.lr, "test_size": args.test_size,
        "accuracy": round(float((pred == labels).float().mean()), 5),
        "accuracy_per_shape": {n: round(float((pred[labels == i] == i).float().mean()), 5)
                               for i, n in enumerate(SHAPE_NAMES)},
        "confident_share": round(float((probs.max(dim=1).values >= CONFIDENCE_THRESHOLD).float().mean()), 5),
        "non_shapes_confident_share": round(float((neg_probs.max(dim=1).values >= CONFIDENCE_THRESHOLD)
                                                  .float().mean()), 5),
        "threshold": CONFIDENCE_THRESHOLD, "seconds": round(seconds, 1), "eval_seconds": round(eval_seconds, 1),
        "cpu": machine["cpu"], "torch": machine["torch"], "threads": args.threads,
        "num_parameters": sum(p.numel() for p in net.parameters()),
        "file_bytes": args.weights.stat().st_size, "sha256": file_sha256(args.weights), "machine": machine,
    }
    path = write_result(f"train_shape_net-seed{args.seed}", payload, args.result)
    print(f"accuracy {payload['accuracy']:.4f}, confident {payload['confident_share']:.4f}, non-shapes confident "
          f"{payload['non_shapes_confident_share']:.4f}, {seconds:.0f} s")
    print(f"weights {args.weights} ({payload['file_bytes']} bytes), SHA-256 {payload['sha256']}; result {path}")
    return payload


if __name__ == "__main__":
    main()
