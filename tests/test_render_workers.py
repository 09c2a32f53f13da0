"""``vsslomo render --workers N``: chunks on local worker processes give exactly the file of a
single-process render, survive a killed worker, and resume after an interruption.

Every output is compared with the single-process render of the same clip (real footage
with a cut, FFV1): decoded frames bit for bit, frame count, duration and audio.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import sigint_state
from render_clips import (  # noqa: F401
    RENDER_ARGS,
    assert_same_render,
    cut_clip,
    kill_mid_chunk,
    reference,
    render_during,
    vsslomo,
    work_folder,
)

pytestmark = pytest.mark.skipif(
    __import__("render_clips").FFPROBE is None, reason="needs ffprobe to check the results"
)

CHUNK = ("--chunk-frames", "5")
"""Five source frames a chunk: the clip's 14-frame shot is split in three, the next in two."""


def test_two_workers_give_the_single_process_file_even_when_one_is_killed(cut_clip: Path, reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mkv"
    args = ("render", cut_clip, out, *RENDER_ARGS, "--workers", "2", *CHUNK)
    code, err = render_during(args, tmp_path, lambda: kill_mid_chunk(work_folder(out)), "no worker was caught in a chunk")
    assert code == 0, err
    assert "is rendered again: worker" in err and "signal 9" in err, err
    assert "5 chunks on 2 local workers, 5 rendered, 0 reused" in err
    assert_same_render(reference, out)
    assert sorted(os.listdir(tmp_path)) == ["out.mkv"]  # no chunks, manifest or temporary file left


def _done(folder: Path) -> dict[str, int]:
    try:
        return json.loads((folder / "manifest.json").read_text())["done"]
    except (OSError, ValueError, KeyError):
        return {}


def test_resume_renders_only_the_missing_chunks(cut_clip: Path, reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mkv"
    folder = work_folder(out)
    args = ("render", cut_clip, out, *RENDER_ARGS, "--workers", "1", *CHUNK)
    states: list[str] = []

    def interrupt(p: subprocess.Popen[str]) -> None:
        states.append(sigint_state(p.pid))
        p.send_signal(signal.SIGINT)

    code, err = render_during(args, tmp_path, lambda: len(_done(folder)) >= 2, "no two chunks finished", then=interrupt, timeout=120)
    assert code == 130, f"{err}\n{states}"
    last = err.strip().splitlines()[-1]
    assert last.startswith("vsslomo: error: interrupted;") and "chunks are kept in" in last and "--resume" in last, err
    assert not out.exists()
    done = _done(folder)
    assert 2 <= len(done) < 5
    assert not list(folder.glob("*vsslomo-part*"))

    # without --resume the unfinished work is not thrown away; with other settings it is not reused
    r = vsslomo(*args, cwd=tmp_path)
    assert r.returncode == 1 and "add --resume to continue it, or -y to start over" in r.stderr
    r = vsslomo("render", cut_clip, out, *RENDER_ARGS, "--ensemble", "--workers", "1", *CHUNK, "--resume", cwd=tmp_path)
    assert r.returncode == 1 and "was made with other settings (filter differ)" in r.stderr, r.stderr
    assert _done(folder) == done

    # a finished chunk whose file lost frames is rendered again
    manifest = json.loads((folder / "manifest.json").read_text())
    spoiled = min(done, key=int)
    chunk_file = folder / f"chunk-{int(spoiled):05d}-{manifest['key']}.mkv"
    ffmpeg = __import__("render_clips").FFMPEG
    subprocess.run([ffmpeg, "-v", "error", "-y", "-i", str(chunk_file), "-frames:v", "3", "-c", "copy", str(chunk_file.with_suffix(".tmp.mkv"))], check=True)
    chunk_file.with_suffix(".tmp.mkv").replace(chunk_file)

    r = vsslomo(*args, "--resume", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"chunk {spoiled} is rendered again: its file has 3 frames" in r.stderr
    rendered = 5 - len(done) + 1
    assert f"5 chunks on 1 local worker, {rendered} rendered, {len(done) - 1} reused" in r.stderr, r.stderr
    assert_same_render(reference, out)
    assert sorted(os.listdir(tmp_path)) == ["out.mkv"]


def test_chunked_errors_are_one_line_and_leave_nothing(cut_clip: Path, tmp_path: Path) -> None:
    cases = [
        (["--workers", "0"], "--workers: '0' must be at least 1"),
        (["--workers", "1", "--chunk-frames", "0"], "--chunk-frames: '0' must be at least 1"),
        # a worker's error (here the filter's, when it builds the graph) ends the render, one line
        (["--workers", "1", "--checkpoint", str(tmp_path / "none.pt")], "slomo.Interpolate: checkpoint file"),
    ]
    for extra, message in cases:
        r = vsslomo("render", cut_clip, tmp_path / "o.mkv", "--device", "cpu", *extra, cwd=tmp_path)
        lines = r.stderr.strip().splitlines()
        assert r.returncode != 0 and "Traceback" not in r.stderr, (extra, r.stderr)
        assert lines[-1].startswith("vsslomo: error: ") and message in lines[-1], (extra, r.stderr)
        assert os.listdir(tmp_path) == [], (extra, os.listdir(tmp_path))
