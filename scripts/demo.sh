#!/usr/bin/env bash
# Render the built-in demo (examples/demo.vpy: 24000/1001 -> 60000/1001 fps with a scene cut)
# through vspipe into x264, and print where the video was written.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VSSLOMO_VENV:-.venv}"
OUT="${1:-out/demo.mp4}"
mkdir -p "$(dirname "$OUT")"
FFMPEG=$(command -v ffmpeg || "$VENV/bin/python" -c 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())')
# The CPU heap policy of vsslomo/heap.py, which vspipe cannot set for itself once running.
HEAP_ENV=$("$VENV/bin/python" -c 'from vsslomo.heap import environment_prefix; print(environment_prefix())')
# shellcheck disable=SC2086
env $HEAP_ENV "$VENV/bin/vspipe" -c y4m examples/demo.vpy - |
    "$FFMPEG" -hide_banner -loglevel error -y -f yuv4mpegpipe -i - -c:v libx264 -crf 18 -preset medium -pix_fmt yuv420p "$OUT"
echo "demo: wrote $(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")"
