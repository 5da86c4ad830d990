#!/usr/bin/env bash
# InfoGAN-CR's full dSprites schedule (28 epochs, 322,560 iterations at batch 64) on one GPU, three seeds at
# once, resumable: the same command continues every run from its last state.
#
#   bash benchmarks/dsprites_gpu.sh [OUTDIR] [SEEDS]           # default runs/dsprites-gpu, seeds 0,1,2
#   PROBE=1 bash benchmarks/dsprites_gpu.sh                     # 2,000 iterations per seed: the rate, then stop
#
# The networks are small, so an eager step is bound by kernel launches, not by the GPU: the steps are
# replayed as CUDA graphs (torch.compile mode reduce-overhead) and the seeds train side by side in their own
# processes. Each run is evaluated along the way (shape score and MIG every 32,000 iterations, about
# 2.8 epochs) and at the end (shape score, MIG, FactorVAE on 2,000 votes; benchmarks/study.py), and
# the summary is written to benchmarks/results/dsprites-gpu-<date>.json. After it, the full disentanglement_lib
# protocols: infogan eval RUN --metrics mig,factorvae,dci,sap,betavae (CPU-bound, minutes per run).
set -euo pipefail
cd "$(dirname "$0")/.."
outdir=${1:-runs/dsprites-gpu}
seeds=${2:-0,1,2}
iterations=322560
every=32000
if [ "${PROBE:-0}" = "1" ]; then iterations=2000; every=0; outdir="$outdir-probe"; fi
python benchmarks/study.py --variants dsprites-cr --seeds "$seeds" --iterations "$iterations" \
    --eval-every "$every" --outdir "$outdir" --jobs 3 --threads 4 \
    --set train.device=cuda --set train.compile=true --set train.compile_mode=reduce-overhead \
    --set train.precision=bf16 --json "benchmarks/results/dsprites-gpu-$(date +%F).json"
if [ "${PROBE:-0}" = "1" ]; then
  python - "$outdir" <<'PY'
import json, sys
from pathlib import Path
for stats in sorted(Path(sys.argv[1]).glob("*/stats.jsonl")):
    last = json.loads(stats.read_text().splitlines()[-1])
    rate = last["step"] / last["time_s"]
    print(f"{stats.parent.name}: {rate:.0f} iterations/s -> 322,560 iterations in {322560 / rate / 60:.1f} min")
PY
fi
