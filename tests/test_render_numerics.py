"""Same bits whatever the thread layout: the filter's output does not change with torch's
intra-op thread count (``OMP_NUM_THREADS``) or VapourSynth's thread count.

Without :mod:`vsslomo.numerics` the RIFE frames below differ between 1 and 3 threads
(small convolutions take an MKL GEMM, RIFE's transposed convolutions oneDNN kernels,
both of which split their sums by the thread count).
"""

from __future__ import annotations

import subprocess
import sys

from render_clips import env

SCRIPT = r"""
import hashlib, sys
import numpy as np
import vapoursynth as vs
import vsslomo
from vsslomo.demo import demo_clip

vs.core.num_threads = int(sys.argv[1])
clip = vs.core.resize.Bicubic(demo_clip(128, 96, 12, cut_at=8), format=vs.YUV420P8, matrix_s="709")
for model in ("rife", "superslomo"):
    out = vsslomo.interpolate(clip, factor_num=5, factor_den=2, model=model, device="cpu")
    digest = hashlib.sha1()
    for frame in out.frames():
        for p in range(3):
            digest.update(np.asarray(frame[p]).tobytes())
    print(model, digest.hexdigest())
"""


def _hashes(threads: int) -> str:
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(threads)], env=env(OMP_NUM_THREADS=str(threads)), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_output_bits_do_not_depend_on_the_thread_count() -> None:
    one, three = _hashes(1), _hashes(3)
    assert one.count("\n") == 2
    assert one == three
