"""Are a dSprites generator's samples sprites of the right size, and does the shape score read them fairly?

    python benchmarks/dsprites_sample_check.py RUN_OR_SNAPSHOT [--samples 2000] [--probe-steps 1500] [--out FILE]

For G's samples and for the same number of renders (``infogan.data.dsprites``, factors drawn uniformly):
lit pixels per image (> 0.5), grey pixels per image (0.1 to 0.9: how far G's output is from binary), and the
shape score (``infogan.metrics.shape_score``) of the images as they are and binarised at 0.5. For the renders
also the score after a 3x3 binomial blur: how much softer edges alone cost. If G's samples are binary, of the
real sprites' size, and score the same binarised, a low score is about the shapes G draws, not about grey
edges the shape classifier was never shown. Where the unconfident samples are: the confident share of samples and
renders by size (four bins of lit pixels cut at the renders' quartiles), and the two shapes each unconfident sample
is likeliest to be.

It also reports how saturated G's output sigmoid is: the median magnitude of its pre-activations a over all
pixels and over the band of pixels within 2 px of a drawn outline, and the share of that band where the
sigmoid's derivative is above 0.01. Where that share is small, D's gradient cannot reach the outlines. For a
model with a categorical code, the shape counts of samples with each category fixed: does a category choose
a shape?

``--probe-steps N`` also trains a fresh discriminator of the run's architecture (with and without spectral norm;
Adam 2e-4, batches of 64 renders and 64 samples) for N steps to tell renders from G's samples, and reports its
accuracy on held-out images: whether this D can see what separates G's samples from the renders at all, to
compare with the D(x) and D(G(z)) of the training log. The run's own D is read too: its mean logit on renders of
each shape and on G's samples, and whether it scores renders of squares and hearts above renders of ellipses
(area under the ROC curve; 0.5 when it gives every shape the same score). Writes JSON (default
benchmarks/results/dsprites_sample_check-<date>.json).
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from common import machine_info, write_result
from infogan.data.dsprites import SHAPE_NAMES, render_dsprites, sample_factor_classes
from infogan.inference.generate import generate, resolve_latent
from infogan.latent.spec import Categorical
from infogan.metrics.shape_net import load_shape_net
from infogan.models import build_model
from infogan.metrics.shape_score import CONFIDENCE_THRESHOLD, score_probabilities
from infogan.snapshot import load, resolve_snapshot, snapshot_step


def describe(images: torch.Tensor, net, probs: np.ndarray | None = None) -> dict:
    """Pixel statistics and shape score of (N, 1, 64, 64) images in [0, 1], as they are (the classifier's
    ``probs`` (N, 3) when already computed) and binarised."""
    as_is = score_probabilities(net.probabilities(images).numpy() if probs is None else probs)
    binary = score_probabilities(net.probabilities((images > 0.5).float()).numpy())
    return {"lit_pixels": float((images > 0.5).float().sum(dim=(1, 2, 3)).mean()),
            "grey_pixels": float(((images > 0.1) & (images < 0.9)).float().sum(dim=(1, 2, 3)).mean()),
            "score": as_is["score"], "confident_share": as_is["confident_share"], "counts": as_is["counts"],
            "score_binarised": binary["score"]}


def by_size(fake: torch.Tensor, real: torch.Tensor, probs: dict[str, np.ndarray]) -> dict:
    """Where the unconfident samples are: the confident share of G's samples and of the renders in four bins of
    lit pixels (> 0.5) cut at the renders' quartiles, and which two shapes the unconfident samples hover between
    (the classifier's two likeliest). ``probs``: the shape classifier's (N, 3) outputs for "generated" and "real"."""
    lit = {k: (v > 0.5).flatten(1).sum(1).numpy() for k, v in (("generated", fake), ("real", real))}
    edges = np.quantile(lit["real"], [0.25, 0.5, 0.75])  # 3 cuts -> 4 bins; G's outliers fall in the end bins
    bins = []
    for i in range(4):
        row = {"lit_from": None if i == 0 else float(edges[i - 1]), "lit_below": None if i == 3 else float(edges[i])}
        for name in ("generated", "real"):
            inside = np.digitize(lit[name], edges) == i
            conf = probs[name][inside].max(axis=1) >= CONFIDENCE_THRESHOLD
            row[name] = {"images": int(inside.sum()), "confident_share": float(conf.mean()) if inside.any() else None}
        bins.append(row)
    unsure = probs["generated"].max(axis=1) < CONFIDENCE_THRESHOLD
    pairs: dict[str, int] = {}
    for top2 in np.sort(np.argsort(probs["generated"][unsure], axis=1)[:, -2:], axis=1):
        key = "-".join(SHAPE_NAMES[j] for j in top2)
        pairs[key] = pairs.get(key, 0) + 1
    return {"bins": bins, "unconfident": int(unsure.sum()), "unconfident_between": pairs}


def per_category(model, net, n: int, seed: int) -> list[dict]:
    """For each category of each categorical code: the shape score and counts of n samples with that category
    fixed and everything else from the prior (does a category choose a shape?)."""
    out = []
    for i, code in enumerate(model.spec.codes):
        if not isinstance(code, Categorical):
            continue
        for k in range(code.k):
            codes = [None] * len(model.spec.codes)
            codes[i] = k
            images = generate(model, codes, n=n, generator=torch.Generator().manual_seed(seed)).clamp(0, 1)
            out.append({"code": f"c{i + 1}", "category": k, **describe(images, net)})
    return out


@torch.no_grad()
def saturation(model, n: int, seed: int) -> dict:
    """How far G's output sigmoid is saturated, on n samples from the prior (G in eval mode)."""
    latent = resolve_latent(model, n=n, generator=torch.Generator().manual_seed(seed))
    model.eval()
    pre = model.G[:-1](model.spec.g_input(latent.z, latent.codes)).float()  # (n, 1, 64, 64), before the sigmoid
    image = torch.sigmoid(pre)
    lit = (image > 0.5).float()
    band = (F.max_pool2d(lit, 5, 1, 2) + F.max_pool2d(-lit, 5, 1, 2)) > 0  # within 2 px of an outline
    return {"samples": n, "median_abs_pre_activation": float(pre.abs().median()),
            "median_abs_pre_activation_edge_band": float(pre[band].abs().median()),
            "edge_band_pixels_per_image": float(band.float().sum() / n),
            "edge_band_share_with_gradient": float(((image * (1 - image))[band] > 0.01).float().mean())}


@torch.no_grad()
def own_discriminator(model, real: torch.Tensor, classes: np.ndarray, fake: torch.Tensor) -> dict:
    """What the run's own D (eval mode) reads: its mean logit on the renders of each shape and on G's samples,
    and the area under the ROC curve of its logit between renders of squares and hearts and renders of
    ellipses (0.5: D gives every shape the same score; G draws ellipse-like blobs, so a D that has learnt
    shape scores squares and hearts higher) and between renders and samples."""
    model.eval()
    logit_real = torch.cat([model.D(x)[0] for x in real.split(500)]).float().numpy()  # (N,)
    logit_fake = torch.cat([model.D(x)[0] for x in fake.split(500)]).float().numpy()  # (N,)
    shapes = ("square", "ellipse", "heart")
    return {"mean_logit_real": {name: float(logit_real[classes[:, 0] == i].mean()) for i, name in enumerate(shapes)},
            "mean_logit_generated": float(logit_fake.mean()),
            "auc_squares_hearts_vs_ellipses": float(roc_auc_score(classes[:, 0] != 1, logit_real)),
            "auc_real_vs_generated": float(roc_auc_score(np.r_[np.ones(len(real)), np.zeros(len(fake))],
                                                         np.r_[logit_real, logit_fake]))}


def probe_discriminator(model_config, real: torch.Tensor, fake: torch.Tensor, *, steps: int, held_out: int,
                        spectral_norm: bool, seed: int = 0) -> dict:
    """Train a fresh D of ``model_config``'s architecture to tell ``real`` from ``fake`` (both (N, 1, 64, 64));
    the last ``held_out`` images of each are kept out of training and scored at the end."""
    torch.manual_seed(seed)
    D = build_model(dataclasses.replace(model_config, spectral_norm=spectral_norm)).D
    opt = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    n, gen = len(real) - held_out, torch.Generator().manual_seed(seed)
    target = torch.cat([torch.ones(64), torch.zeros(64)])  # (128,)
    for _ in range(steps):
        i = torch.randint(n, (64,), generator=gen)
        logit, _ = D(torch.cat([real[i], fake[i]]))  # (128, 1)
        loss = F.binary_cross_entropy_with_logits(logit.reshape(-1), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    D.eval()
    with torch.no_grad():
        real_ok = (D(real[n:])[0].reshape(-1) > 0).float().mean().item()
        fake_ok = (D(fake[n:])[0].reshape(-1) < 0).float().mean().item()
    return {"spectral_norm": spectral_norm, "steps": steps, "held_out": held_out, "last_loss": loss.item(),
            "accuracy": (real_ok + fake_ok) / 2, "real_called_real": real_ok, "fake_called_fake": fake_ok}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="a dsprites run folder or snapshot")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--probe-steps", type=int, default=0, help="train a fresh D for this many steps (0: no probe)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    net = load_shape_net().eval()
    path = resolve_snapshot(args.run)
    model = load(path)
    fake = generate(model, n=args.samples, generator=torch.Generator().manual_seed(args.seed)).clamp(0, 1)
    classes = sample_factor_classes(np.random.default_rng(args.seed), args.samples)
    real = torch.from_numpy(render_dsprites(classes)).unsqueeze(1).float()  # (N, 1, 64, 64) in {0, 1}
    kernel = torch.tensor([0.25, 0.5, 0.25])
    probs = {"generated": net.probabilities(fake).numpy(), "real": net.probabilities(real).numpy()}  # (N, 3) each
    blurred = F.conv2d(real, (kernel[:, None] * kernel[None, :])[None, None], padding=1)
    result = {"snapshot": str(path), "step": snapshot_step(path), "samples": args.samples, "seed": args.seed,
              "generated": describe(fake, net, probs["generated"]), "real": describe(real, net, probs["real"]),
              "real_blurred": describe(blurred, net), "by_size": by_size(fake, real, probs),
              "saturation": saturation(model, min(args.samples, 1000), args.seed),
              "per_category": per_category(model, net, min(args.samples, 2000), args.seed),
              "own_discriminator": own_discriminator(model, real, classes, fake),
              "machine": machine_info(torch.device("cpu"))}
    if args.probe_steps:
        held_out = max(1, args.samples // 6)
        result["probe"] = [probe_discriminator(model.config, real, fake, steps=args.probe_steps, held_out=held_out,
                                               spectral_norm=sn, seed=args.seed) for sn in (True, False)]
        for p in result["probe"]:
            print(f"fresh D (spectral norm {p['spectral_norm']}), {p['steps']} steps: held-out accuracy "
                  f"{p['accuracy']:.3f} (renders {p['real_called_real']:.3f}, samples {p['fake_called_fake']:.3f})")
    for name in ("generated", "real", "real_blurred"):
        r = result[name]
        print(f"{name:13s} lit {r['lit_pixels']:6.1f}  grey {r['grey_pixels']:5.1f}  score {r['score']:.3f} "
              f"(binarised {r['score_binarised']:.3f})  confident {r['confident_share']:.1%}  {r['counts']}")
    for b in result["by_size"]["bins"]:
        g, r = (None if v["confident_share"] is None else round(v["confident_share"], 3)
                for v in (b["generated"], b["real"]))
        print(f"lit pixels [{b['lit_from']}, {b['lit_below']}): samples {b['generated']['images']} confident {g}, "
              f"renders {b['real']['images']} confident {r}")
    print(f"unconfident samples between: {result['by_size']['unconfident_between']}")
    for r in result["per_category"]:
        print(f"{r['code']} = {r['category']}: score {r['score']:.3f}  confident {r['confident_share']:.1%}  {r['counts']}")
    own = result["own_discriminator"]
    by_shape = ", ".join(f"{k} {v:.3f}" for k, v in own["mean_logit_real"].items())
    print(f"the run's D: mean logit on renders {by_shape}, "
          f"on samples {own['mean_logit_generated']:.3f}; AUC squares and hearts vs ellipses "
          f"{own['auc_squares_hearts_vs_ellipses']:.3f}, renders vs samples {own['auc_real_vs_generated']:.3f}")
    sat = result["saturation"]
    print(f"G's output sigmoid: median |pre-activation| {sat['median_abs_pre_activation']:.1f} (edge band "
          f"{sat['median_abs_pre_activation_edge_band']:.1f}); edge-band pixels with sigmoid' > 0.01: "
          f"{sat['edge_band_share_with_gradient']:.1%}")
    print(write_result("dsprites_sample_check", result, args.out))


if __name__ == "__main__":
    main()
