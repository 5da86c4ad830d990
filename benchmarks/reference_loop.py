"""A plain InfoGAN training loop, written from the paper and the official code, to check the fast path against.

It uses the project's networks, initialisation and latent spec (so that only the loop differs) and none of
the trainer: fp32, eager, NCHW, plain Adam, and each update as the official openai/InfoGAN code does it
(``InfoGANTrainer.train``: every ``sess.run`` samples the latent anew):

- D step: fresh z, c and a real batch; G(z, c); D's loss -[log D(x) + log(1 - D(G(z, c)))] plus
  lambda * -log Q(c | G(z, c)); D's optimiser (trunk, D head, Q head) steps;
- G step: **fresh** z, c and a **fresh** G forward (nothing shared with the D step); G's loss
  -log D(G(z, c)) plus lambda * -log Q(c | G(z, c)); G's optimiser steps;
- real batches: the training split shuffled once per epoch (the official code's ``next_batch``).

The fast path (:class:`infogan.training.Trainer`) differs by its shortcuts: one G forward shared by both
phases, D frozen in the G phase, bf16 autocast where the CPU has it, channels_last, fused Adam, batches
drawn with replacement. ``benchmarks/study.py`` trains both on the same schedule and seeds and
compares FID and accuracy; the result is in docs/results/sample-quality/.

    python benchmarks/reference_loop.py --preset mnist-official --iterations 3000 --batch-size 128 --seed 0 \
        --out runs/reference-seed0
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import infogan
from infogan.config import RunConfig
from infogan.models import build_model
from infogan.snapshot import SNAPSHOT_NAME, save_snapshot
from infogan.storage import atomic_write_text
from infogan.training.objective import d_loss, g_loss, info_loss
from infogan.training.rundir import CONFIG_NAME
from infogan.training.session import load_training_data


def train_reference(config: RunConfig, out: Path, *, log_every: int = 100) -> Path:
    """Train ``config`` with the plain loop and write a snapshot (and config.json) to ``out``.

    Args:
        config: the run config (its model, optimiser, batch size, iterations and seed are used; its speed
            and execution fields are ignored: fp32, eager, NCHW).
        out: the output folder (created); ``infogan eval out`` evaluates the result.
        log_every: iterations between lines of ``stats.jsonl``.
    Returns:
        The snapshot path.
    """
    tc, opt = config.train, config.optim
    if opt.consistency or opt.g_steps != 1:
        raise SystemExit("the reference loop is plain InfoGAN: no consistency term, one G step per iteration")
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(tc.seed)
    model = build_model(config.model)
    model.train()
    spec = model.spec
    images = load_training_data(config).images  # (N, C, H, W) uint8
    tanh = config.model.output == "tanh"
    opt_d = torch.optim.Adam(model.D.parameters(), lr=opt.lr_d, betas=(opt.beta1, opt.beta2), foreach=False)
    opt_g = torch.optim.Adam(model.G.parameters(), lr=opt.lr_g, betas=(opt.beta1, opt.beta2), foreach=False)
    gen = torch.Generator().manual_seed(tc.seed + 1)
    order, position = torch.randperm(len(images), generator=gen), 0
    atomic_write_text(out / CONFIG_NAME, config.to_json())
    stats, started = [], time.perf_counter()
    for step in range(1, tc.iterations + 1):
        if position + tc.batch_size > len(images):  # a new epoch; the incomplete last batch is dropped
            order, position = torch.randperm(len(images), generator=gen), 0
        real = images[order[position:position + tc.batch_size]].float() / 255.0  # (B, C, H, W) in [0, 1]
        position += tc.batch_size
        real = real * 2 - 1 if tanh else real

        latent = spec.sample(tc.batch_size, generator=gen)  # D step: its own z, c
        fake = model.G(spec.g_input(latent.z, latent.codes)).detach()
        real_logit, _ = model.D(real)
        fake_logit, q_fake = model.D(fake)
        info_d, _ = info_loss(spec, q_fake, latent)
        loss_d = d_loss(real_logit, fake_logit) + (info_d if opt.info_to_d else 0.0)
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()

        latent = spec.sample(tc.batch_size, generator=gen)  # G step: fresh z, c and a fresh G forward
        fake_logit, q_fake = model.D(model.G(spec.g_input(latent.z, latent.codes)))
        info_g, bound = info_loss(spec, q_fake, latent)
        loss_g = g_loss(fake_logit) + (info_g if opt.info_to_g else 0.0)
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        if step % log_every == 0 or step == tc.iterations:
            stats.append({"step": step, "images": step * tc.batch_size, "loss_d": round(loss_d.item(), 6),
                          "loss_g": round(loss_g.item(), 6), "time_s": round(time.perf_counter() - started, 2),
                          **{f"L_I/c{i + 1}": round(v, 6) for i, v in enumerate(bound.tolist())}})
    atomic_write_text(out / "stats.jsonl", "".join(json.dumps(s) + "\n" for s in stats))
    return save_snapshot(model, out / SNAPSHOT_NAME, config=config, step=tc.iterations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="mnist-official")
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = infogan.get_preset(args.preset).replace(
        train={"iterations": args.iterations, "batch_size": args.batch_size, "seed": args.seed, "precision": "fp32"})
    print(train_reference(cfg, args.out))


if __name__ == "__main__":
    main()
