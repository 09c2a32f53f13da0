"""The real footage the benchmarks run on: the four sample videos of Debian's ``opencv-doc``.

``vtest.avi`` and ``tree.avi`` (examples/data) and ``box.mp4``/``cup.mp4`` (html, gzipped),
taken from an extracted package at ``$VSSLOMO_OPENCV_DOC`` or fetched once with
``apt-get download opencv-doc`` into a cache folder. ``Megamind*.avi`` in the same package
is reserved for independent evaluation and is never used here.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

SAMPLES = {
    "vtest.avi": "examples/data/vtest.avi",
    "tree.avi": "examples/data/tree.avi",
    "box.mp4": "opencv4/html/box.mp4.gz",
    "cup.mp4": "opencv4/html/cup.mp4.gz",
}
RESERVED = ("megamind",)
DEFAULT_CACHE = Path.home() / ".cache" / "vsslomo-bench"


def opencv_doc_videos(cache: Path = DEFAULT_CACHE) -> list[Path]:
    """Paths of the four sample videos (decompressed into ``cache`` where needed)."""
    root_env = os.environ.get("VSSLOMO_OPENCV_DOC")
    if root_env:
        doc = Path(root_env) / "usr/share/doc/opencv-doc"
    else:
        doc = cache / "deb/usr/share/doc/opencv-doc"
        if not doc.is_dir():
            _fetch(cache)
    out = []
    for name, rel in SAMPLES.items():
        src = doc / rel
        if not src.exists():
            print(f"note: {name} not found in {doc}", file=sys.stderr)
            continue
        if src.suffix == ".gz":
            dst = cache / name
            if not dst.exists():
                cache.mkdir(parents=True, exist_ok=True)
                with gzip.open(src, "rb") as fin, open(dst, "wb") as fout:
                    shutil.copyfileobj(fin, fout)
            src = dst
        out.append(src)
    return out


def check_not_reserved(videos: list[Path]) -> None:
    """Refuse footage kept for independent evaluation."""
    for v in videos:
        if v.name.lower().startswith(RESERVED):
            raise SystemExit(f"{v.name} is reserved for independent evaluation; pick other footage")


def _fetch(cache: Path) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    print(f"fetching opencv-doc into {cache} (apt-get download) ...", file=sys.stderr)
    subprocess.run(["apt-get", "download", "opencv-doc"], cwd=cache, check=True)
    debs = sorted(cache.glob("opencv-doc_*.deb"))
    if not debs:
        raise SystemExit("apt-get download opencv-doc produced no .deb")
    subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(cache / "deb")], check=True)
