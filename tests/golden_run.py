"""The golden runs: fixed-seed, one-thread, fp32 trainings whose final weights are hashed.

Run as a script in a fresh process (``python tests/golden_run.py [NAME...]``): it pins the CPU kernels to one
instruction set first (environment variables read when PyTorch loads), so that the hash does not follow the
machine's load or thread count (across instruction-set families it can still differ: ``test_golden_run.py``).
It prints, per config, the SHA-256 of the final weights (every tensor of the state dict in key order, as
float64 bytes). ``tests/test_golden_run.py`` compares them with the recorded values: a
refactoring that keeps behaviour keeps the hashes; a deliberate change of the training maths records new
ones and says why.
"""

from __future__ import annotations

import os
import sys

# Before torch is imported: the same kernels on every x86-64 CPU with AVX2 (ATen's vectorised kernels,
# oneDNN's convolutions, MKL's matmuls with conditional numerical reproducibility), one thread.
PINNED_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2",
              "MKL_ENABLE_INSTRUCTIONS": "AVX2", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

GOLDEN_STEPS = 16


def configs() -> dict:
    """The golden configs: the tiny test architecture, the MNIST networks with the consistency term, and the
    dSprites networks (spectral norm)."""
    import infogan

    base = infogan.get_preset("fake").replace(
        train={"iterations": GOLDEN_STEPS, "batch_size": 16, "tick": 8, "snapshot_every": 8, "precision": "fp32",
               "deterministic": True, "seed": 3, "sampling": "uniform"})  # the sampling the hashes were recorded with
    presets = {name: infogan.get_preset(name) for name in ("mnist-consistent", "dsprites")}
    return {
        "tiny": base.replace(model={"arch": "tiny"}),
        **{name: base.replace(model=p.model.__dict__, optim=p.optim.__dict__) for name, p in presets.items()},
    }


def weights_hash(model) -> str:
    """SHA-256 of every state-dict tensor, in key order, as float64 (layout-independent) bytes."""
    import hashlib

    import torch

    digest = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().to(torch.float64).contiguous().numpy().tobytes())
    return digest.hexdigest()


def run(name: str, outdir: str) -> str:
    """Train golden config ``name`` under ``outdir`` and return the hash of its final weights."""
    import torch

    import infogan
    from infogan.data.fake import load_fake

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from conftest import _build_tiny

    from infogan.models import register

    register("tiny", _build_tiny)
    torch.set_num_threads(1)
    # ATen's own convolutions (im2col + MKL matmul) instead of oneDNN's, whose blocking follows the cache size
    torch.backends.mkldnn.enabled = False
    cfg = configs()[name]
    data = load_fake(cfg.model.image_shape, n=256, seed=11)
    result = infogan.train(cfg, outdir=outdir, data=data, progress=False)
    return weights_hash(infogan.load(result.run_dir))


if __name__ == "__main__":
    missing = {k: v for k, v in PINNED_ENV.items() if os.environ.get(k) != v}
    if missing:  # re-execute with the pinned kernels: they are chosen when PyTorch loads
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **PINNED_ENV})
    import tempfile

    for name in sys.argv[1:] or list(configs()):
        with tempfile.TemporaryDirectory() as tmp:
            print(name, run(name, tmp), flush=True)
