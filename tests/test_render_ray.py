"""``vsslomo render --ray ADDRESS``: chunks on Ray actors of a local CPU cluster give exactly
the file of a single-process render, also when an actor is killed in the middle of a chunk.

One cluster for the module (``ray.init(num_cpus=2)``; Ray starts slowly); the command
joins it as a second driver, like a user's render joins a running cluster.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from render_clips import (  # noqa: F401
    FFPROBE,
    RENDER_ARGS,
    assert_same_render,
    command,
    cut_clip,
    env,
    kill_mid_chunk,
    reference,
    render_during,
    work_folder,
)

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'vsslomo[ray]' (CI installs it)")

pytestmark = pytest.mark.skipif(FFPROBE is None, reason="needs ffprobe to check the results")


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """The address of a local two-CPU Ray cluster whose workers import this checkout."""
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = env()["PYTHONPATH"]  # the raylet passes its environment to the actors
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="error")
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH")
        else:
            os.environ["PYTHONPATH"] = saved
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def test_ray_actors_give_the_single_process_file_even_when_one_is_killed(cluster: str, cut_clip: Path, reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mkv"
    args = ("render", cut_clip, out, *RENDER_ARGS, "--chunk-frames", "5", "--workers", "2", "--ray", cluster)
    code, err = render_during(args, tmp_path, lambda: kill_mid_chunk(work_folder(out)), "no actor was caught in a chunk")
    assert code == 0, err
    assert "is rendered again: Ray actor" in err, err
    assert "5 chunks on 2 Ray actors, 5 rendered, 0 reused" in err
    assert_same_render(reference, out)
    assert sorted(os.listdir(tmp_path)) == ["out.mkv"]


def test_ray_addresses_that_cannot_work_are_one_line_errors(cut_clip: Path, tmp_path: Path) -> None:
    with socket.socket() as s:  # a loopback port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{s.getsockname()[1]}"
    for address, message in ((closed, "nothing answers there"), ("nonsense", "give the cluster's address as HOST:PORT")):
        r = subprocess.run(command("render", cut_clip, tmp_path / "o.mkv", "--device", "cpu", "--ray", address), cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=120)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
        assert lines[-1].startswith(f"vsslomo: error: --ray {address}: {message}"), r.stderr
        assert os.listdir(tmp_path) == []
