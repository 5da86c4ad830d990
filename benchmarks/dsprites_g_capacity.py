"""Can the dSprites generator draw the three shapes at all? G trained by supervision, not by a GAN.

    python benchmarks/dsprites_g_capacity.py [--preset dsprites] [--steps 4000] [--fix FACTORS] [--out FILE]

G of the preset (its architecture and initialisation) gets the five factors of a rendered sprite as its
codes, each mapped to [-1, 1] (shape as -1, 0, 1; orientation as a fraction of 2 pi), and noise from its
prior, and is trained with Adam (lr 1e-3 unless ``--lr``, beta1 0.5, batch 64, fp32) to reproduce the
render: per-pixel binary cross-entropy on its output pre-activations. Its drawings of 2,000 held-out
factor draws are then scored by the shape score against the renders of the same factors. A score near the
renders' says this G can draw squares, ellipses and hearts, so what it draws in the GAN game is a matter of
training, not of capacity.

``--orientation`` separates shape from orientation: ``code`` (the default) gives the orientation only as its
code, a linear ramp over [0, 2 pi] that G must turn into rotations (a square repeats every quarter turn, so
this asks for a fast-oscillating function of one input); ``fourier`` puts cos and sin of the angle and of twice
the angle, and cos of four times it, into G's five noise inputs. ``--fix`` holds factors at one class
(their codes are then constant): ``orientation`` at 0, ``scale`` at 1.0 (the largest), ``pos_x`` and ``pos_y``
at the centre; e.g. ``--fix scale,pos_x,pos_y`` leaves shape and orientation to learn.
Writes JSON (default benchmarks/results/dsprites_g_capacity-<date>.json).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

import infogan
from common import machine_info, write_result
from infogan.data.dsprites import FACTOR_NAMES, FACTOR_SIZES, render_dsprites, sample_factor_classes
from infogan.inference.viz import grid, save_grid, to_uint8
from infogan.metrics.shape_net import load_shape_net
from infogan.metrics.shape_score import score_probabilities
from infogan.models import build_model


def factor_codes(classes: np.ndarray) -> torch.Tensor:
    """(N, 5) factor classes -> (N, 5) codes in [-1, 1]: each class index spread evenly over the interval."""
    sizes = np.asarray(FACTOR_SIZES, dtype=np.float32)
    return torch.from_numpy(2 * classes.astype(np.float32) / (sizes - 1) - 1)


def orientation_features(classes: np.ndarray) -> torch.Tensor:
    """(N, 5) factor classes -> (N, 5) noise inputs: cos, sin of the angle and of twice it; cos of 4x it."""
    angle = torch.from_numpy(np.linspace(0.0, 2.0 * np.pi, FACTOR_SIZES[2])[classes[:, 2]]).float()  # (N,)
    return torch.stack([angle.cos(), angle.sin(), (2 * angle).cos(), (2 * angle).sin(), (4 * angle).cos()], dim=1)


FIXED_CLASS = {"scale": FACTOR_SIZES[1] - 1, "orientation": 0, "pos_x": FACTOR_SIZES[3] // 2,
               "pos_y": FACTOR_SIZES[4] // 2}  # the class a --fix factor is held at


def parse_fix(parser: argparse.ArgumentParser, text: str) -> tuple[str, ...]:
    """``--fix`` text -> factor names, or a parser error naming the factors it takes."""
    fix = tuple(f for f in text.split(",") if f)
    if set(fix) - set(FIXED_CLASS):
        parser.error(f"--fix takes factors among {', '.join(FIXED_CLASS)}, got {text!r}")
    return fix


def draw_factors(rng: np.random.Generator, n: int, fix: tuple[str, ...]) -> np.ndarray:
    """(n, 5) factor classes drawn uniformly, the factors named in ``fix`` held at :data:`FIXED_CLASS`."""
    classes = sample_factor_classes(rng, n)
    for name in fix:
        classes[:, FACTOR_NAMES.index(name)] = FIXED_CLASS[name]
    return classes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="dsprites")
    parser.add_argument("--arch", default=None, help="another architecture for the preset's G (e.g. dsprites-coord)")
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate (beta1 0.5)")
    parser.add_argument("--out", default=None)
    parser.add_argument("--orientation", choices=("code", "fourier"), default="code",
                        help="how G learns orientation (see the module docstring)")
    parser.add_argument("--fix", default="",
                        help=f"factors held at one class, comma-separated ({', '.join(FIXED_CLASS)})")
    parser.add_argument("--sheet", default=None, help="also write a PNG: rows of renders above G's drawings")
    args = parser.parse_args()
    fix = parse_fix(parser, args.fix)
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    cfg = infogan.get_preset(args.preset)
    if args.arch:
        cfg = cfg.replace(model={"arch": args.arch})
    model = build_model(cfg.model)
    spec, G = model.spec, model.G
    if len(spec.codes) != 5:
        raise SystemExit(f"preset {args.preset!r} has {len(spec.codes)} codes; this check needs the five of dsprites")
    rng, gen = np.random.default_rng(args.seed), torch.Generator().manual_seed(args.seed)
    opt = torch.optim.Adam(G.parameters(), lr=args.lr, betas=(0.5, 0.999))

    def noise(classes: np.ndarray) -> torch.Tensor:  # (N, 5): G's noise inputs
        if args.orientation == "fourier":
            return orientation_features(classes)
        return spec.sample(len(classes), generator=gen).z

    G.train()
    start, losses = time.perf_counter(), []
    for step in range(args.steps):
        classes = draw_factors(rng, 64, fix)
        target = torch.from_numpy(render_dsprites(classes)).unsqueeze(1).float()  # (64, 1, 64, 64)
        codes = factor_codes(classes)  # (64, 5)
        z = noise(classes)  # (64, 5)
        pre = G[:-1](spec.g_input(z, tuple(codes[:, i] for i in range(5))))  # (64, 1, 64, 64) before the sigmoid
        loss = F.binary_cross_entropy_with_logits(pre, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if (step + 1) % 500 == 0:
            print(f"step {step + 1}: loss {np.mean(losses[-500:]):.4f}", flush=True)
    G.eval()
    classes = draw_factors(np.random.default_rng(args.seed + 1), 2000, fix)
    codes = factor_codes(classes)
    with torch.no_grad():
        drawn = G(spec.g_input(noise(classes), tuple(codes[:, i] for i in range(5))))
    real = torch.from_numpy(render_dsprites(classes)).unsqueeze(1).float()
    net = load_shape_net().eval()
    scored = {name: score_probabilities(net.probabilities(x).numpy()) for name, x in (("drawn", drawn), ("real", real))}
    result = {"preset": args.preset, "arch": cfg.model.arch, "steps": args.steps, "seed": args.seed,
              "orientation": args.orientation, "fixed": list(fix), "lr": args.lr,
              "seconds": time.perf_counter() - start,
              "final_loss": float(np.mean(losses[-500:])),
              "pixel_error": float(((drawn > 0.5) != (real > 0.5)).float().sum(dim=(1, 2, 3)).mean()),
              **{f"{name}_{k}": v[k] for name, v in scored.items() for k in ("score", "confident_share", "counts")},
              "machine": machine_info(torch.device("cpu"))}
    print(f"G by supervision: shape score {result['drawn_score']:.3f} (renders {result['real_score']:.3f}), "
          f"{result['drawn_counts']}; {result['pixel_error']:.1f} wrong pixels per image")
    if args.sheet:  # rows alternate: 10 renders, then G's drawings of the same factors
        pairs = torch.stack([real[:50].reshape(5, 10, 1, 64, 64), drawn[:50].reshape(5, 10, 1, 64, 64)], dim=1)
        save_grid(grid(to_uint8(pairs.reshape(100, 1, 64, 64)), 10, 10), args.sheet)
    print(write_result("dsprites_g_capacity", result, args.out))


if __name__ == "__main__":
    main()
