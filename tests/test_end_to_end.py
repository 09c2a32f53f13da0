"""vspipe runs an example script through the native plugin into a real ffmpeg encode."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from vsslomo.render.ffmpeg import find_ffmpeg, find_ffprobe

ROOT = Path(__file__).resolve().parents[1]
VSPIPE = Path(sys.executable).with_name("vspipe")


def _env() -> dict[str, str]:
    # The subprocess must run this checkout's vsslomo, whichever copy is installed.
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _count_frames(ffmpeg: str, path: Path) -> tuple[int, Fraction]:
    """Decoded frame count and container duration (seconds), read back with ffmpeg itself."""
    run = subprocess.run(
        [ffmpeg, "-hide_banner", "-nostats", "-i", str(path), "-map", "0:v:0", "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    frames = int(re.findall(r"frame=\s*(\d+)", run.stderr)[-1])
    h, m, s = re.search(r"Duration: (\d+):(\d+):(\d+\.\d+)", run.stderr).groups()
    return frames, Fraction(int(h) * 3600 + int(m) * 60) + Fraction(s)


@pytest.mark.skipif(not VSPIPE.exists(), reason="vspipe is not installed next to this Python")
def test_vspipe_demo_script_into_ffmpeg(tmp_path):
    ffmpeg = find_ffmpeg()
    output = tmp_path / "demo.mp4"
    source_frames = 12
    vspipe = subprocess.Popen(
        [str(VSPIPE), "-c", "y4m", "-a", f"frames={source_frames}", "-a", "width=96", "-a", "height=64",
         str(ROOT / "examples" / "demo.vpy"), "-"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
    )
    encode = subprocess.run(
        [ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "yuv4mpegpipe", "-i", "-",
         "-c:v", "libx264", "-preset", "ultrafast", "-crf", "20", str(output)],
        stdin=vspipe.stdout,
        capture_output=True,
        text=True,
    )
    vspipe.stdout.close()
    vspipe_err = vspipe.stderr.read().decode()
    assert vspipe.wait() == 0, vspipe_err
    assert encode.returncode == 0, encode.stderr
    assert "still exist" not in vspipe_err and "leak" not in vspipe_err.lower(), vspipe_err

    frames, duration = _count_frames(ffmpeg, output)
    # 24000/1001 -> 60000/1001: ceil(12 * 5/2) = 30 frames lasting exactly as long as the source.
    assert frames == 30
    assert abs(duration - Fraction(source_frames * 1001, 24000)) < Fraction(1, 50)

    ffprobe = find_ffprobe(ffmpeg)
    if ffprobe:
        rate = subprocess.run(
            [ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=r_frame_rate",
             "-of", "csv=p=0", str(output)],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        assert Fraction(rate) == Fraction(60000, 1001)
