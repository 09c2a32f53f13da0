"""The native ``slomo`` plugin: namespace, argument forwarding, errors, no leaks.

These tests drive the real plugin through a real VapourSynth core. Most of them replace
``vsslomo.filter`` with a tiny fake module so that they test the plumbing (C plugin ->
``vsslomo._bridge`` -> Python implementation -> clip back) without loading a model; one
vspipe test runs the real filter end to end.
"""

from __future__ import annotations

import gc
import inspect
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import types
import uuid
import weakref
from pathlib import Path

import pytest

vs = pytest.importorskip("vapoursynth")

REPO = Path(__file__).resolve().parents[1]
PREFIX = "slomo.Interpolate: "
LEAK_MARKERS = ("still exist", "still allocated", "leak")


def _plugin_loaded() -> bool:
    return hasattr(vs.core, "slomo")


pytestmark = pytest.mark.skipif(
    not _plugin_loaded(),
    reason="native plugin libvsslomo.so is not built/installed: run `pip install .`, or build it with "
    "`pip install -e .` / `python setup.py build_ext --inplace` and set VAPOURSYNTH_EXTRA_PLUGIN_PATH=build/plugins",
)


class FakeFilter:
    """Stands in for ``vsslomo.filter``: records calls, returns a stamped clip."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.token = uuid.uuid4().int % 1_000_000_007
        # (exception type, message) to raise; a fresh exception per call, so that no
        # traceback (and the frames it references) outlives the call
        self.error: tuple[type[BaseException], str] | None = None

    def interpolate(self, clip=None, **kwargs):
        self.calls.append({"clip": clip, **kwargs})
        if self.error is not None:
            raise self.error[0](self.error[1])
        if clip is None:
            raise vs.Error(PREFIX + "no clip; pass a clip")
        factor = kwargs.get("factor") or 2
        out = vs.core.std.Interleave([clip] * int(factor))
        return out.std.SetFrameProps(FakeToken=self.token)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeFilter:
    fake = FakeFilter()
    real = pytest.importorskip("vsslomo.filter")
    module = types.ModuleType("vsslomo.filter")

    def interpolate(*args, **kwargs):
        return fake.interpolate(*args, **kwargs)

    interpolate.__signature__ = inspect.signature(real.interpolate)  # the bridge converts by it
    module.interpolate = interpolate
    monkeypatch.setitem(sys.modules, "vsslomo.filter", module)
    return fake


def _clip(length: int = 3):
    return vs.core.std.BlankClip(width=64, height=48, length=length, format=vs.YUV420P8)


def _plugin_arg_names() -> list[str]:
    return [a.split(":")[0] for a in vs.core.slomo.Interpolate.signature.split(";") if a]


def test_namespace_and_identifier():
    plugin = vs.core.slomo
    assert plugin.identifier == "com.vsslomo.slomo"
    assert plugin.namespace == "slomo"
    assert "Interpolate" in [f.name for f in plugin.functions()]
    assert vs.core.slomo.Interpolate.return_signature.startswith("clip:vnode")
    # every argument is optional, clip included (Python reports a missing clip itself)
    assert all(a.endswith(":opt") for a in vs.core.slomo.Interpolate.signature.split(";") if a)


def _source_arg_names() -> list[str]:
    """The argument names declared in native/vsslomo_plugin.c's interpolate_args."""
    text = (REPO / "native" / "vsslomo_plugin.c").read_text()
    block = text.split("interpolate_args =", 1)[1].split(";\n", 1)[0]
    declared = "".join(re.findall(r'"([^"]*)"', block))
    return [a.split(":")[0] for a in declared.split(";") if a]


def test_arguments_match_python_signature():
    """The C argument list and vsslomo.filter.interpolate must never drift apart."""
    filter_module = pytest.importorskip("vsslomo.filter")
    python_params = list(inspect.signature(filter_module.interpolate).parameters)
    assert _source_arg_names() == python_params, (
        "native/vsslomo_plugin.c interpolate_args differs from vsslomo.filter.interpolate's parameters"
    )


def test_installed_plugin_is_built_from_this_source():
    if _plugin_arg_names() != _source_arg_names():
        pytest.skip("the installed libvsslomo.so is older than native/vsslomo_plugin.c: run scripts/setup.sh")
    assert "factor:data:opt" in vs.core.slomo.Interpolate.signature


def _needs_current_plugin() -> None:
    if _plugin_arg_names() != _source_arg_names():
        pytest.skip("the installed libvsslomo.so is older than native/vsslomo_plugin.c: run scripts/setup.sh")


def test_values_reach_python_exactly(fake: FakeFilter):
    _needs_current_plugin()
    vs.core.slomo.Interpolate(_clip(), factor=2.5, factor_num=2**62 - 1, sc_threshold=0.1, sc=0, ensemble="1")
    call = fake.calls[0]
    assert call["factor"] == 2.5 and type(call["factor"]) is float  # not truncated to 2
    assert call["factor_num"] == 2**62 - 1  # not rounded through a double
    assert call["sc_threshold"] == 0.1 and call["sc"] is False and call["ensemble"] is True


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"sc": "no-thanks"}, "sc must be True or False (1 or 0), got 'no-thanks'"),
        ({"ensemble": 2}, "ensemble must be True or False (1 or 0), got '2'"),
        ({"factor": "two"}, "factor must be a number, got 'two'; pass a number, not text or a bool"),
    ],
)
def test_bad_plugin_values_are_refused_by_name(fake: FakeFilter, kwargs, needle):
    _needs_current_plugin()
    with pytest.raises(vs.Error) as info:
        vs.core.slomo.Interpolate(_clip(), **kwargs)
    assert str(info.value) == PREFIX + needle
    assert not fake.calls


def test_unknown_argument_names_are_refused_by_vapoursynth():
    with pytest.raises(vs.Error, match="does not take argument.*factr"):
        vs.core.slomo.Interpolate(_clip(), factr=2)


def test_real_filter_refuses_fractional_and_boolean_factors_through_the_plugin():
    _needs_current_plugin()
    with pytest.raises(vs.Error, match=r"^slomo\.Interpolate: factor must be a whole number, got 2\.5; .*factor_num=5, factor_den=2"):
        vs.core.slomo.Interpolate(_clip(), factor=2.5, device="cpu")
    with pytest.raises(vs.Error, match=r"^slomo\.Interpolate: factor must be a number, got 'True'"):
        vs.core.slomo.Interpolate(_clip(), factor=True, device="cpu")


def test_core_call_forwards_all_arguments(fake: FakeFilter):
    clip = _clip()
    out = vs.core.slomo.Interpolate(
        clip, factor=3, factor_num=6, factor_den=2, fps_num=72, fps_den=1, model="superslomo",
        checkpoint="/tmp/ck.pt", device="cpu", fp16=True, sc=False, sc_threshold=0.25, scale=0.5, ensemble=1,
    )
    assert len(fake.calls) == 1
    call = fake.calls[0]
    got_clip = call.pop("clip")
    assert isinstance(got_clip, vs.VideoNode)
    assert (got_clip.width, got_clip.height, got_clip.num_frames) == (64, 48, 3)
    assert call == {
        "factor": 3, "factor_num": 6, "factor_den": 2, "fps_num": 72, "fps_den": 1, "model": "superslomo",
        "checkpoint": "/tmp/ck.pt", "device": "cpu", "fp16": True, "sc": False, "sc_threshold": 0.25,
        "scale": 0.5, "ensemble": True,
    }
    assert type(call["fp16"]) is bool and type(call["sc"]) is bool and type(call["model"]) is str
    assert type(call["ensemble"]) is bool
    # the clip that comes back is the Python implementation's clip
    assert out.num_frames == 9
    assert out.get_frame(4).props["FakeToken"] == fake.token


def test_method_call_forwards_only_given_arguments(fake: FakeFilter):
    out = _clip(2).slomo.Interpolate(model=b"rife")
    assert out.num_frames == 4
    assert out.get_frame(0).props["FakeToken"] == fake.token
    call = fake.calls[0]
    assert sorted(call) == ["clip", "model"] and call["model"] == "rife"


def test_python_error_reaches_user_unchanged(fake: FakeFilter):
    message = PREFIX + "factor must be at least 1; pass factor=2 or more"
    fake.error = (vs.Error, message)
    with pytest.raises(vs.Error) as info:
        vs.core.slomo.Interpolate(_clip(), factor=0)
    assert str(info.value) == message


def test_missing_clip_is_reported_by_python(fake: FakeFilter):
    with pytest.raises(vs.Error) as info:
        vs.core.slomo.Interpolate()
    assert str(info.value) == PREFIX + "no clip; pass a clip"
    assert fake.calls == [{"clip": None}]


def test_unexpected_exception_is_a_clear_error(fake: FakeFilter):
    fake.error = (ZeroDivisionError, "boom")
    with pytest.raises(vs.Error) as info:
        vs.core.slomo.Interpolate(_clip())
    text = str(info.value)
    assert text.startswith(PREFIX + "internal error: ZeroDivisionError: boom")
    assert "Traceback" not in text and "VSSLOMO_DEBUG=1" in text


def test_unexpected_exception_traceback_on_request(fake: FakeFilter, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("VSSLOMO_DEBUG", "1")
    fake.error = (ZeroDivisionError, "boom")
    with pytest.raises(vs.Error, match="Traceback"):
        vs.core.slomo.Interpolate(_clip())


def test_vapoursynth_error_without_prefix_gets_it(fake: FakeFilter):
    fake.error = (vs.Error, "Resize error: bad matrix")
    with pytest.raises(vs.Error) as info:
        vs.core.slomo.Interpolate(_clip())
    assert str(info.value) == PREFIX + "Resize error: bad matrix"


def test_unimportable_vsslomo_is_explained(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "vsslomo._bridge", None)  # makes the import fail
    with pytest.raises(vs.Error) as info:
        vs.core.slomo.Interpolate(_clip())
    text = str(info.value)
    assert text.startswith(PREFIX + "the Python package vsslomo is not importable")
    assert sys.executable in text and "pip install" in text


def test_register_function_is_internal():
    with pytest.raises(vs.Error, match="internal"):
        vs.core.slomo.InternalRegister(func=lambda **kw: None)


@pytest.mark.parametrize("fail", [False, True])
def test_registered_function_is_released(fake: FakeFilter, monkeypatch: pytest.MonkeyPatch, fail: bool):
    """The VSFunction handed to the plugin must not outlive the call (VapourSynth does not report it)."""
    import vsslomo._bridge as bridge

    class Probe:
        def __call__(self, **kwargs):
            return bridge_entry(**kwargs)

    bridge_entry = bridge.entry
    probe = Probe()
    ref = weakref.ref(probe)
    monkeypatch.setattr(bridge, "entry", probe)
    del probe
    if fail:
        fake.error = (vs.Error, PREFIX + "nope")
    try:
        vs.core.slomo.Interpolate(_clip())
    except vs.Error:
        assert fail
    monkeypatch.undo()
    gc.collect()
    assert ref() is None, "the plugin kept a reference to the Python entry point"


# ---- vspipe: a real VSScript host ----------------------------------------------------


def _vspipe() -> str:
    exe = shutil.which("vspipe", path=str(Path(sys.executable).parent)) or shutil.which("vspipe")
    if exe is None:
        pytest.skip("vspipe not found next to this Python")
    return exe


def _vspipe_env(tmp_path: Path) -> dict[str, str]:
    """Environment in which vspipe uses this Python (its own `vapoursynth config`) and this repo."""
    env = dict(os.environ)
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    subprocess.run([sys.executable, "-m", "vapoursynth", "config"], env=env, check=True, capture_output=True)
    return env


def _run_vspipe(tmp_path: Path, script: str, timeout: float = 120) -> subprocess.CompletedProcess:
    path = tmp_path / "script.vpy"
    path.write_text(textwrap.dedent(script))
    return subprocess.run(
        [_vspipe(), "-p", str(path), str(tmp_path / "out.raw")],
        env=_vspipe_env(tmp_path), capture_output=True, text=True, timeout=timeout,
    )


def _assert_clean_exit(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stderr
    lowered = result.stderr.lower()
    assert not any(marker in lowered for marker in LEAK_MARKERS), result.stderr


def test_vspipe_forwarding_without_leaks(tmp_path: Path):
    # No vsslomo import in the script; the fake filter keeps the test model-free.
    result = _run_vspipe(tmp_path, """
        import sys, types
        import vapoursynth as vs

        fake = types.ModuleType("vsslomo.filter")
        def interpolate(clip=None, factor: int | None = None, **kwargs):
            if clip is None:
                raise vs.Error("slomo.Interpolate: no clip")
            return vs.core.std.Interleave([clip] * factor)
        fake.interpolate = interpolate
        sys.modules["vsslomo.filter"] = fake

        src = vs.core.std.BlankClip(width=64, height=48, length=3, format=vs.GRAY8)
        try:
            vs.core.slomo.Interpolate()
        except vs.Error as exc:
            print("caught:", exc, file=sys.stderr)
        spare = src.slomo.Interpolate(factor=2)  # created and dropped: must be freed too
        vs.core.slomo.Interpolate(src, factor=3).set_output()
    """)
    _assert_clean_exit(result)
    assert "caught: slomo.Interpolate: no clip" in result.stderr
    assert (tmp_path / "out.raw").stat().st_size == 9 * 64 * 48


def test_vspipe_real_filter_without_leaks(tmp_path: Path):
    pytest.importorskip("torch")
    pytest.importorskip("vsslomo.filter")
    result = _run_vspipe(tmp_path, """
        import vapoursynth as vs
        import torch
        torch.set_num_threads(1)

        src = vs.core.std.BlankClip(width=64, height=48, length=2, format=vs.RGB24, color=[20, 40, 60])
        src = vs.core.std.Splice([src[0], src[1].std.BlankClip(color=[60, 40, 20])])
        out = src.slomo.Interpolate(factor=2, device="cpu", sc=False)
        assert out.num_frames >= 3, out.num_frames
        out.set_output()
    """, timeout=300)
    _assert_clean_exit(result)
    assert (tmp_path / "out.raw").stat().st_size % (64 * 48 * 3) == 0
    assert (tmp_path / "out.raw").stat().st_size >= 3 * 64 * 48 * 3


# ---- a host process without (usable) Python --------------------------------------------

HOST_C = r"""
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include "VapourSynth4.h"

/* argv: libvapoursynth path, mode (none|uninit|local), libpython path */
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    void *py = NULL;
    if (strcmp(argv[2], "none") != 0) {
        py = dlopen(argv[3], RTLD_NOW | (strcmp(argv[2], "local") == 0 ? RTLD_LOCAL : RTLD_GLOBAL));
        if (!py) { fprintf(stderr, "%s\n", dlerror()); return 3; }
        if (strcmp(argv[2], "local") == 0) {
            void (*init)(int) = (void (*)(int))dlsym(py, "Py_InitializeEx");
            init(0);
        }
    }
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) { fprintf(stderr, "%s\n", dlerror()); return 4; }
    const VSAPI *(*get)(int) = (const VSAPI *(*)(int))dlsym(lib, "getVapourSynthAPI");
    const VSAPI *vsapi = get(VAPOURSYNTH_API_VERSION);
    VSCore *core = vsapi->createCore(0);
    VSPlugin *plugin = vsapi->getPluginByNamespace("slomo", core);
    if (!plugin) { printf("NO PLUGIN\n"); return 5; }
    VSMap *args = vsapi->createMap();
    VSMap *ret = vsapi->invoke(plugin, "Interpolate", args);
    const char *err = vsapi->mapGetError(ret);
    printf("ERROR: %s\n", err ? err : "(none)");
    vsapi->freeMap(ret);
    vsapi->freeMap(args);
    vsapi->freeCore(core);
    return 0;
}
"""


@pytest.fixture(scope="module")
def host_exe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build the test host")
    include = Path(vs.__file__).with_name("include")
    work = tmp_path_factory.mktemp("host")
    (work / "host.c").write_text(HOST_C)
    exe = work / "host"
    subprocess.run([cc, "-std=c11", "-I", str(include), str(work / "host.c"), "-o", str(exe), "-ldl"], check=True)
    return exe


def _libpython() -> str:
    name = sysconfig.get_config_var("INSTSONAME") or ""
    path = Path(sysconfig.get_config_var("LIBDIR") or "", name)
    if not sysconfig.get_config_var("Py_ENABLE_SHARED") or not path.is_file():
        pytest.skip("this Python has no shared libpython")
    return str(path)


def _run_host(host_exe: Path, mode: str, env: dict[str, str] | None = None) -> str:
    libvs = Path(vs.__file__).with_name("libvapoursynth.so.4")
    if not libvs.is_file():
        pytest.skip("libvapoursynth.so.4 is not next to the vapoursynth module")
    argv = [str(host_exe), str(libvs), mode] + ([_libpython()] if mode != "none" else [])
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return result.stdout


def test_host_without_python_gets_an_error(host_exe: Path):
    out = _run_host(host_exe, "none")
    assert f"ERROR: {PREFIX}no Python interpreter found" in out


def test_host_with_uninitialised_python_gets_an_error(host_exe: Path):
    out = _run_host(host_exe, "uninit")
    assert f"ERROR: {PREFIX}the Python interpreter in this process is not initialised" in out


def test_host_with_local_libpython_finds_python(host_exe: Path):
    # libpython loaded RTLD_LOCAL: the plugin must still find it (dl_iterate_phdr fallback)
    # and report the Python-side failure instead of "no Python interpreter found".
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONNOUSERSITE="1")
    out = _run_host(host_exe, "local", env)
    assert out.startswith(f"ERROR: {PREFIX}"), out
    assert "no Python interpreter found" not in out and "not initialised" not in out
