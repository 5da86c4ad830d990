"""The golden runs give the recorded weights, bit for bit (see ``tests/golden_run.py``).

Each hash is the final weights of a 16-step fp32 training with pinned CPU kernels. A change that only
moves code keeps them; a deliberate change of the training maths must record new values here, with the
reason in the commit.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

GOLDEN = {
    "tiny": "739ad77611bf79598cb927ee548e8b7e91a021060d1252f7e1e2fa169abc4679",
    "mnist-consistent": "50a6646fa214025097eaaae303d2053e6a6179d15a8d5853f6194f6363db948c",
    "dsprites": "376bed175c4582fcb52e12c65a03859b8ef37226e2d0ea5ae03a72135f3a2fe8",
}


def _has_avx2() -> bool:
    try:
        return " avx2" in Path("/proc/cpuinfo").read_text(errors="ignore")
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not _has_avx2(), reason="the golden hashes are recorded with AVX2 kernels (x86-64 with AVX2)")
def test_golden_runs_keep_their_weights():
    script = Path(__file__).with_name("golden_run.py")  # beside this file, in tests/
    out = subprocess.run([sys.executable, str(script), *GOLDEN], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    got = dict(line.split() for line in out.stdout.splitlines() if line.strip())
    assert got == GOLDEN
