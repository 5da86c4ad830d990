"""Worker for tests/runtime/test_distributed.py, started by ``torchrun --nproc_per_node 2`` (gloo on CPU).

Usage: ``torchrun --standalone --nproc_per_node 2 tests/distributed_worker.py OUT``. Writes (rank 0 only):

- ``OUT/lockstep.json``: for each of 3 training steps, the largest difference of every parameter and buffer
  between the ranks, and whether the ranks drew different latent/data streams;
- ``OUT/equiv-sync.pt`` / ``OUT/equiv-nosync.pt``: parameters, gradients and buffers after one step on a
  fixed global batch split over the two ranks, with SyncBatchNorm on / off (the test compares them with
  one process on the whole batch, computed by :func:`one_step`);
- ``OUT/batchnorm.json``: the largest float64 differences between the cross-process batch norm on split
  batches and ``nn.BatchNorm2d`` on the whole batch (output, input gradient, weight gradients, running stats).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import torch

import infogan
import infogan.inference.generate
from infogan.data.base import ImageData
from infogan.latent.spec import Latent, LatentSpec
from infogan.runtime.engine import Engine
from infogan.training import Trainer
from infogan.training.rundir import create_run_dir

GLOBAL_BATCH = 8


def tiny_config(sync_batchnorm: bool = True):
    return infogan.get_preset("fake").replace(
        train={"iterations": 4, "batch_size": GLOBAL_BATCH, "tick": 2, "snapshot_every": 2, "precision": "fp32",
               "deterministic": True, "sync_batchnorm": sync_batchnorm})


def fake_data() -> ImageData:
    g = torch.Generator().manual_seed(0)
    return ImageData(torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8, generator=g),
                     torch.randint(0, 10, (64,), generator=g), name="fake")


def fixed_inputs(trainer: Trainer, rank: int, world: int) -> None:
    """Make ``trainer``'s next step see slice ``rank`` of one fixed global batch (real images and latent)."""
    spec = trainer.model.spec
    g = torch.Generator().manual_seed(99)
    idx = torch.randint(trainer.images.shape[0], (GLOBAL_BATCH,), generator=g)
    global_latent = LatentSpec.sample(spec, GLOBAL_BATCH, generator=g)
    real = infogan.inference.generate.to_model_range(trainer.model, trainer.images[idx])
    local = GLOBAL_BATCH // world
    part = slice(rank * local, (rank + 1) * local)

    def sample(self, batch, *, generator=None, device="cpu"):
        assert batch == local, (batch, local)
        return Latent(global_latent.z[part], tuple(c[part] for c in global_latent.codes))

    LatentSpec.sample = sample  # this process only: the trainer's draws become the fixed slice
    trainer.real_batch = lambda batch: real[part]


def one_step(config, run_dir: Path, engine: Engine, rank: int, world: int) -> dict[str, dict[str, torch.Tensor]]:
    """One train_step on the fixed global batch; returns parameters, gradients and buffers of G and D."""
    original = LatentSpec.sample
    try:
        trainer = Trainer(config, run_dir, fake_data(), progress=False, engine=engine)
        fixed_inputs(trainer, rank, world)
        trainer.model.train()
        trainer.train_step()
    finally:
        LatentSpec.sample = original
    model = trainer.model
    return {"params": {k: p.detach().clone() for k, p in model.named_parameters()},
            "grads": {k: p.grad.detach().clone() for k, p in model.named_parameters() if p.grad is not None},
            "buffers": {k: b.detach().clone() for k, b in model.named_buffers()}}


def batchnorm_check(rank: int, world: int) -> dict[str, float] | None:
    """Float64: cross-process batch norm over slices == nn.BatchNorm2d over the whole batch (rank 0 reports)."""
    import torch.distributed as dist

    from infogan.runtime.distributed import convert_batchnorm

    g = torch.Generator().manual_seed(5)
    x = torch.randn(8, 3, 4, 4, generator=g, dtype=torch.float64) * 3 + 1  # (B, C, H, W), mean far from 0
    w = torch.randn(8, 3, 4, 4, generator=g, dtype=torch.float64)  # a loss weighting per element
    ref = torch.nn.BatchNorm2d(3).double()
    with torch.no_grad():
        ref.weight.uniform_(0.5, 1.5, generator=g)
        ref.bias.uniform_(-0.5, 0.5, generator=g)
    bn = convert_batchnorm(torch.nn.Sequential(torch.nn.BatchNorm2d(3).double()), torch.device("cpu"))[0]
    bn.load_state_dict(ref.state_dict())
    part = slice(rank * 8 // world, (rank + 1) * 8 // world)
    x_ref, x_loc = x.clone().requires_grad_(True), x[part].clone().requires_grad_(True)
    y_ref = ref(x_ref)
    (y_ref * w).sum((1, 2, 3)).mean().backward()  # loss: a mean over the batch, like the GAN losses
    y_loc = bn(x_loc)
    (y_loc * w[part]).sum((1, 2, 3)).mean().backward()
    local = torch.cat([y_loc.detach().reshape(-1), x_loc.grad.reshape(-1) / world])  # x grad: of the summed losses
    pieces = [torch.empty_like(local) for _ in range(world)]
    dist.all_gather(pieces, local)
    n = y_loc.numel()
    y_all = torch.cat([p[:n].view_as(y_loc) for p in pieces])
    gx_all = torch.cat([p[n:].view_as(y_loc) for p in pieces])
    grads = torch.cat([bn.weight.grad, bn.bias.grad])
    dist.all_reduce(grads)
    grads /= world  # what the optimiser hook does
    if rank:
        return None
    return {"output": (y_all - y_ref).abs().max().item(), "input_grad": (gx_all - x_ref.grad).abs().max().item(),
            "weight_grads": (grads - torch.cat([ref.weight.grad, ref.bias.grad])).abs().max().item(),
            "running_mean": (bn.running_mean - ref.running_mean).abs().max().item(),
            "running_var": (bn.running_var - ref.running_var).abs().max().item()}


def _flat(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([t.detach().reshape(-1).float() for t in [*model.parameters(), *model.buffers()]])


def main(out: Path) -> None:
    import torch.distributed as dist

    config = tiny_config()
    engine = Engine.from_config(config.train)
    assert engine.distributed and engine.backend == "gloo", engine
    rank, world = engine.rank, engine.world_size
    run_dir = engine.create_run_dir(lambda: create_run_dir(out / "runs", config))

    # 1. lock-step: after every step both ranks hold bit-identical weights and batch-norm statistics
    trainer = Trainer(config, run_dir, fake_data(), progress=False, engine=engine)
    streams = engine.gather_object([trainer.gen_latent.get_state(), trainer.gen_data.get_state()])
    trainer.model.train()
    diffs = []
    for _ in range(3):
        trainer.train_step()
        flat = _flat(trainer.model)
        copies = [torch.empty_like(flat) for _ in range(world)]
        dist.all_gather(copies, flat)
        diffs.append(max((c - copies[0]).abs().max().item() for c in copies))
    run_dirs = engine.gather_object(str(run_dir))
    if engine.is_main:
        different = all(not torch.equal(s[0], streams[0][0]) and not torch.equal(s[1], streams[0][1])
                        for s in streams[1:])
        (out / "lockstep.json").write_text(json.dumps({"max_diff_per_step": diffs, "world_size": world,
                                                       "different_streams": different, "run_dirs": run_dirs}))

    # 2. equivalence with one process on the whole batch, SyncBatchNorm on and off
    for sync in (True, False):
        eng = dataclasses.replace(engine, sync_batchnorm=sync, owns_process_group=False)
        result = one_step(tiny_config(sync), run_dir, eng, rank, world)
        if engine.is_main:
            torch.save(result, out / f"equiv-{'sync' if sync else 'nosync'}.pt")
    # 3. the batch-norm layer alone, in float64
    report = batchnorm_check(rank, world)
    if engine.is_main:
        (out / "batchnorm.json").write_text(json.dumps(report))
    engine.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
