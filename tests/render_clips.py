"""Shared by the render tests: a short clip with real cuts, the command, decoded outputs.

The clip is spliced from real footage (opencv-doc's vtest.avi and tree.avi, where they are
on this machine, see ``benchmarks/footage.py``), or else from the built-in demo scene with
a shot change; tiny (64x48), 10 fps, with a 440 Hz tone in FLAC.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import sigint_default

from vsslomo.render.ffmpeg import find_ffmpeg, find_ffprobe

REPO = Path(__file__).resolve().parents[1]
FFMPEG = find_ffmpeg()
FFPROBE = find_ffprobe(FFMPEG)
SIZE = (64, 48)
RATE = 10
SHOT_FRAMES = (14, 10)
"""Frames of the two shots: 24 frames, one cut, factor 2 gives 48 output frames."""


def _opencv_doc() -> Path | None:
    root = os.environ.get("VSSLOMO_OPENCV_DOC")
    base = Path(root) if root else Path.home() / ".cache" / "vsslomo-bench" / "deb"
    data = base / "usr/share/doc/opencv-doc/examples/data"
    return data if (data / "vtest.avi").is_file() and (data / "tree.avi").is_file() else None


def _splice_real(data: Path, out: Path) -> None:
    w, h = SIZE
    a, b = SHOT_FRAMES
    graph = (
        f"[0:v]fps={RATE},scale={w}:{h},setsar=1,trim=start_frame=20:end_frame={20 + a},setpts=PTS-STARTPTS[a];"
        f"[1:v]fps={RATE},scale={w}:{h},setsar=1,trim=start_frame=0:end_frame={b},setpts=PTS-STARTPTS[b];"
        "[a][b]concat=n=2:v=1[v]"
    )
    _encode(["-i", str(data / "vtest.avi"), "-i", str(data / "tree.avi")], graph, out, audio_input=2)


def _splice_demo(out: Path) -> None:
    import vapoursynth as vs

    from vsslomo.demo import demo_clip

    w, h = SIZE
    clip = demo_clip(w, h, sum(SHOT_FRAMES), (RATE, 1), cut_at=SHOT_FRAMES[0])
    raw = b"".join(np.stack([np.asarray(f[p]) for p in (1, 2, 0)]).tobytes() for f in clip.frames())
    assert clip.format.id == vs.RGB24
    source = ["-f", "rawvideo", "-pix_fmt", "gbrp", "-s", f"{w}x{h}", "-framerate", str(RATE), "-i", "pipe:0"]
    _encode(source, "[0:v]null[v]", out, audio_input=1, stdin=raw)


def _encode(inputs: list[str], graph: str, out: Path, audio_input: int, stdin: bytes | None = None) -> None:
    seconds = sum(SHOT_FRAMES) / RATE
    cmd = [FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *inputs,
           "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
           "-filter_complex", graph, "-map", "[v]", "-map", f"{audio_input}:a",
           "-c:v", "ffv1", "-pix_fmt", "yuv420p", "-c:a", "flac", str(out)]
    subprocess.run(cmd, input=stdin, check=True)


def make_cut_clip(out: Path) -> Path:
    """The test clip (see the module docstring) written to ``out`` (``.mkv``)."""
    data = _opencv_doc()
    if data is not None:
        _splice_real(data, out)
    else:
        print("opencv-doc footage not found: the render tests use the built-in demo scene with a cut", file=sys.stderr)
        _splice_demo(out)
    return out


def env(**extra: str) -> dict[str, str]:
    """The environment of a ``vsslomo`` subprocess: this checkout, no debug tracebacks."""
    e = dict(os.environ)
    e["PYTHONPATH"] = str(REPO) + os.pathsep + e.get("PYTHONPATH", "")
    e.pop("VSSLOMO_DEBUG", None)
    e.update(extra)
    return e


def command(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "vsslomo", *map(str, args)]


def vsslomo(*args: str | Path, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run the command as users do and capture its output."""
    return subprocess.run(command(*args), cwd=cwd, env=env(), capture_output=True, text=True, timeout=timeout)


def decoded(path: Path, stream: str = "v") -> str:
    """SHA-1 of the decoded frames (or audio samples) of the first stream of a kind."""
    kind = ["-map", "0:v:0", "-f", "rawvideo"] if stream == "v" else ["-map", "0:a:0", "-f", "s32le"]
    raw = subprocess.run([FFMPEG, "-v", "error", "-i", str(path), *kind, "-"], check=True, capture_output=True).stdout
    return hashlib.sha1(raw).hexdigest()


def probe(path: Path) -> dict:
    out = subprocess.run(
        [FFPROBE, "-v", "error", "-count_frames", "-print_format", "json", "-show_format", "-show_streams", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out)


def assert_same_render(reference: Path, other: Path) -> None:
    """``other`` decodes to the frames and audio of ``reference``, with its length and duration."""
    a, b = probe(reference), probe(other)
    va = [s for s in a["streams"] if s["codec_type"] == "video"][0]
    vb = [s for s in b["streams"] if s["codec_type"] == "video"][0]
    assert int(vb["nb_read_frames"]) == int(va["nb_read_frames"])
    assert vb["r_frame_rate"] == va["r_frame_rate"]
    assert float(b["format"]["duration"]) == float(a["format"]["duration"])
    assert decoded(other) == decoded(reference), "the frames differ from the single-process render"
    assert decoded(other, "a") == decoded(reference, "a"), "the audio differs"


def work_folder(output: Path) -> Path:
    from vsslomo.render.manifest import work_dir

    return work_dir(output)


def wait_for(condition, timeout: float, proc: subprocess.Popen | None = None, every: float = 0.05):
    """Poll ``condition()`` until it returns something truthy (or the process ends)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            return condition()
        time.sleep(every)
    return None


def kill_mid_chunk(folder: Path) -> int | None:
    """SIGKILL a worker that is writing a chunk now; returns its pid (``None``: none was).

    A worker's temporary chunk file is named after its pid. The worker is stopped first and
    killed only if its file is still there, so it cannot have just finished that chunk.
    """
    for part in folder.glob(".chunk-*.vsslomo-part-*"):
        tail = part.name.rsplit("-", 1)[-1]
        if not tail.isdigit():
            continue
        pid = int(tail)
        try:
            os.kill(pid, signal.SIGSTOP)
        except ProcessLookupError:
            continue
        if part.exists():
            os.kill(pid, signal.SIGKILL)
            return pid
        os.kill(pid, signal.SIGCONT)
    return None


def render_during(
    args: tuple[str | Path, ...], cwd: Path, condition, message: str, then=None, timeout: float = 600
) -> tuple[int, str]:
    """Start ``vsslomo *args``, wait until ``condition()`` holds (failing with ``message``),
    call ``then(proc)`` if given, and return the exit code and stderr once it ends."""
    proc = subprocess.Popen(command(*args), cwd=cwd, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=sigint_default)
    try:
        assert wait_for(condition, timeout=300, proc=proc), message
        if then is not None:
            then(proc)
        _, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err


@pytest.fixture(scope="session")
def cut_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The spliced test clip."""
    return make_cut_clip(tmp_path_factory.mktemp("cut-clip") / "cuts.mkv")


@pytest.fixture(scope="session")
def reference(cut_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The single-process render of the test clip: factor 2, RIFE on the CPU, FFV1."""
    folder = tmp_path_factory.mktemp("reference")
    out = folder / "single.mkv"
    r = vsslomo("render", cut_clip, out, *RENDER_ARGS, cwd=folder)
    assert r.returncode == 0, r.stderr
    return out


RENDER_ARGS = ("--factor", "2", "--model", "rife", "--device", "cpu", "--codec", "ffv1", "-q")
"""The render every test of a chunked render compares with the single-process one."""
