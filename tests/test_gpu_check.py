"""benchmarks/gpu_check.py runs end to end on a CPU-only machine (the GPU session runs it for real)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_gpu_check_runs_on_the_cpu_at_a_small_size():
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--device", "cpu", "--size", "128x96", "--frames", "2"],
        capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    out = done.stdout
    for needle in ("rife\n", "superslomo\n", "rife4.22 (random weights)", "filter via vspipe", "max |difference| vs CPU fp32",
                   "vs-rife 5.7 beside vsslomo", "0 part(s) failed"):
        assert needle in out, out
