"""Can the dSprites discriminator see shape? D trained on a fixed real-versus-fake task, not in a GAN.

    python benchmarks/dsprites_d_shape.py [--preset dsprites] [--arch A] [--task shape|position] [--fix FACTORS]
        [--no-sn] [--lr LR] [--steps 3000] [--eval-every 250] [--out FILE]

D of the preset (its architecture, spectral norm and initialisation; Q's head unused) learns with the preset's
D optimiser (Adam at ``lr_d``, the preset's betas) to tell renders of the full factor distribution ("real")
from renders that differ from it in one respect ("fake"), 64 of each per step, by the logistic loss on its
logit, in fp32:

- ``--task shape``: every fake is an ellipse (scale, orientation and position drawn as for the real ones).
  Real ellipses and fake ones have one distribution, so the only thing D can learn is that squares and hearts
  are real: what D must see for G to be pushed from round blobs towards the three shapes.
- ``--task position``: every fake has its horizontal position in the left half of its range. A control: D
  must see where a sprite is, which the GAN runs learn within a few thousand iterations.

Every ``--eval-every`` steps, on 2,000 fresh renders of the full distribution (the same ones each time), the
area under the ROC curve of D's logit between the renders only real batches hold (squares and hearts; right
half) and the ones both hold (ellipses; left half): 1 when D tells them apart, 0.5 when it cannot. The mean
loss of the best D is 0.375 on the shape task (ellipses at D = 1/4) and 0.477 on the position task (the left
half at D = 1/3); a D that sees nothing has 0.693. ``--fix`` holds factors at one class in both distributions
(e.g. ``--fix pos_x,pos_y``: every sprite centred), ``--no-sn`` drops spectral norm, ``--lr`` sets D's
learning rate. Writes JSON (default benchmarks/results/dsprites_d_shape-<date>.json).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

import infogan
from common import machine_info, write_result
from dsprites_g_capacity import FIXED_CLASS, draw_factors, parse_fix
from infogan.data.dsprites import FACTOR_NAMES, FACTOR_SIZES, render_dsprites
from infogan.models import build_model

ELLIPSE = 1  # shape classes: 0 square, 1 ellipse, 2 heart
POS_X = FACTOR_NAMES.index("pos_x")
HALF_X = FACTOR_SIZES[POS_X] // 2


def make_fake(classes: np.ndarray, task: str) -> np.ndarray:
    """(N, 5) factor classes of real draws -> the fake ones of ``task`` (a copy)."""
    fake = classes.copy()
    if task == "shape":
        fake[:, 0] = ELLIPSE
    else:
        fake[:, POS_X] %= HALF_X
    return fake


def only_real(classes: np.ndarray, task: str) -> np.ndarray:
    """(N,) bool: the renders that only the real distribution holds (squares and hearts; the right half)."""
    return classes[:, 0] != ELLIPSE if task == "shape" else classes[:, POS_X] >= HALF_X


def images(classes: np.ndarray) -> torch.Tensor:
    """(N, 5) factor classes -> (N, 1, 64, 64) float renders."""
    return torch.from_numpy(render_dsprites(classes)).unsqueeze(1).float()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="dsprites")
    parser.add_argument("--arch", default=None, help="another architecture (e.g. dsprites-cr)")
    parser.add_argument("--task", choices=("shape", "position"), default="shape")
    parser.add_argument("--fix", default="",
                        help=f"factors held at one class in real and fake draws ({', '.join(FIXED_CLASS)})")
    parser.add_argument("--no-sn", action="store_true", help="D without spectral norm")
    parser.add_argument("--lr", type=float, default=None, help="D's learning rate (default: the preset's lr_d)")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    fix = parse_fix(parser, args.fix)
    if args.task == "position" and "pos_x" in fix:
        parser.error("--task position needs pos_x free")
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    cfg = infogan.get_preset(args.preset)
    if args.arch:
        cfg = cfg.replace(model={"arch": args.arch})
    if args.no_sn:
        cfg = cfg.replace(model={"spectral_norm": False})
    if args.lr is not None:
        cfg = cfg.replace(optim={"lr_d": args.lr})
    D = build_model(cfg.model).D
    opt = torch.optim.Adam(D.parameters(), lr=cfg.optim.lr_d, betas=(cfg.optim.beta1, cfg.optim.beta2))
    rng = np.random.default_rng(args.seed)
    held = draw_factors(np.random.default_rng(args.seed + 1), 2000, fix)  # (2000, 5)
    held_x, held_y = images(held), only_real(held, args.task)
    labels = torch.cat([torch.ones(64), torch.zeros(64)])  # (128,): real, then fake

    def auc() -> float:
        D.eval()
        with torch.no_grad():
            logits = torch.cat([D(chunk)[0] for chunk in held_x.split(500)])  # (2000,)
        D.train()
        return float(roc_auc_score(held_y, logits.numpy()))

    start, curve, losses = time.perf_counter(), [], []
    for step in range(1, args.steps + 1):
        real = draw_factors(rng, 64, fix)
        fake = make_fake(draw_factors(rng, 64, fix), args.task)
        logits, _ = D(torch.cat([images(real), images(fake)]))  # (128,)
        loss = F.binary_cross_entropy_with_logits(logits, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step % args.eval_every == 0:
            curve.append({"step": step, "auc": auc(), "loss": float(np.mean(losses[-args.eval_every:]))})
            print(f"step {step}: AUC {curve[-1]['auc']:.3f}, loss {curve[-1]['loss']:.4f}", flush=True)
    result = {"preset": args.preset, "arch": cfg.model.arch, "task": args.task, "fixed": list(fix),
              "steps": args.steps, "seed": args.seed, "spectral_norm": cfg.model.spectral_norm,
              "lr_d": cfg.optim.lr_d, "seconds": time.perf_counter() - start,
              "final_auc": curve[-1]["auc"] if curve else None, "curve": curve,
              "machine": machine_info(torch.device("cpu"))}
    print(write_result("dsprites_d_shape", result, args.out))


if __name__ == "__main__":
    main()
