"""Every trainable family runs a few steps on tiny data, saves, resumes, and its checkpoint loads for inference."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch

from vsslomo.render.ffmpeg import find_ffmpeg
from vsslomo.train import main as train_main
from vsslomo.train.checkpoint import export_checkpoint, family_of, load_training_state
from vsslomo.train.families import FAMILIES

TINY_SUPERSLOMO = ["--widths", "4,4,6,6,8,8"]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("media")
    video = root / "clip.mkv"
    subprocess.run([find_ffmpeg(), "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25", "-frames:v", "24",
                    "-c:v", "ffv1", str(video)], check=True)
    photos = root / "photos"
    photos.mkdir()
    subprocess.run([find_ffmpeg(), "-v", "error", "-f", "lavfi", "-i", "mandelbrot=size=128x128", "-frames:v", "1",
                    str(photos / "m.png")], check=True)
    return {"video": video, "photos": photos}


def _args(media: dict[str, Path], out: Path, model: str, crop: int) -> list[str]:
    extra = TINY_SUPERSLOMO if model == "superslomo" else []
    return [str(media["video"]), "--synthetic", str(media["photos"]), "--photo-side", "128", "--model", model,
            "--out", str(out), "--crop", str(crop), "--batch", "1", "--samples-per-epoch", "2", "--window", "5",
            "--min-span", "2", "--val-windows", "1", "--val-size", "32", "--threads", "1", "--plain",
            "--teacher", "exact", "--max-side", "96", *extra]


@pytest.mark.parametrize("model", list(FAMILIES))
def test_family_trains_resumes_and_exports(media: dict[str, Path], tmp_path: Path, model: str,
                                           capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    crop = 32
    assert train_main(_args(media, out, model, crop) + ["--epochs", "1"]) == 0
    first = load_training_state(out / "last.pt")
    assert family_of(first) == model
    family = FAMILIES[model]
    public, raw, meta = family.unpack(first)
    assert meta["epoch"] == 0 and meta["samples_seen"] == 2 and meta["args"]["model"] == model
    assert raw is not None  # the weight average is public, the raw weights are kept to resume
    assert {"optimizer", "scheduler", "history", "val"} <= set(meta)

    assert train_main(_args(media, out, model, crop) + ["--epochs", "2", "--resume"]) == 0
    assert "resuming from" in capsys.readouterr().err
    second = load_training_state(out / "last.pt")
    _, _, meta2 = family.unpack(second)
    assert meta2["epoch"] == 1 and len(meta2["history"]) == 2 and meta2["samples_seen"] == 4
    key = next(iter(k for k, v in _flat(public).items() if v.is_floating_point()))
    assert not torch.equal(_flat(public)[key], _flat(family.unpack(second)[0])[key])

    # The inference loader reads the exported float16 file (with the recipe inside).
    export_checkpoint(out / "last.pt", tmp_path / "small.pt")
    small = load_training_state(tmp_path / "small.pt")
    assert family.unpack(small)[2]["args"]["crop"] == crop
    model_out = _load_for_inference(model, tmp_path / "small.pt")
    x0, x1 = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        frames = model_out(x0, x1, torch.tensor([0.25, 0.5]))
    assert frames.shape == (2, 3, 32, 32) and bool(torch.isfinite(frames).all())


def _flat(state: dict) -> dict:
    out = {}
    for k, v in state.items():
        if isinstance(v, dict):
            out.update({f"{k}.{n}": t for n, t in _flat(v).items()})
        else:
            out[k] = v
    return out


def _load_for_inference(model: str, path: Path) -> torch.nn.Module:
    if model == "superslomo":
        from vsslomo.models.superslomo import load_superslomo

        return load_superslomo(path)
    from vsslomo.models.ifrnet import load_ifrnet

    loaded = load_ifrnet(path, size={"ifrnet-s": "s", "ifrnet": "base", "ifrnet-l": "l"}[model])
    assert loaded.takes_t  # trained at every t
    return loaded


def test_bf16_channels_last_and_rife_teacher(media: dict[str, Path], tmp_path: Path,
                                             capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    from vsslomo.train import trainer

    monkeypatch.setattr(trainer, "cpu_has_native_bf16", lambda: False)  # emulated bf16 is worth a note
    out = tmp_path / "bf16"
    args = _args(media, out, "ifrnet-s", 32)
    args[args.index("--teacher") + 1] = "rife"
    assert train_main(args + ["--epochs", "1", "--bf16", "--channels-last", "--cache", str(tmp_path / "cache")]) == 0
    err = capsys.readouterr().err
    assert "teacher: RIFE HDv3 flows" in err and "epoch 0 done" in err
    assert "without native bfloat16" in err and "drop --bf16" in err
    assert list((tmp_path / "cache").glob("clip-*/d1.f16"))
    # A second run reuses the cache.
    assert train_main(args + ["--epochs", "1", "--out", str(tmp_path / "again"), "--cache", str(tmp_path / "cache")]) == 0
    err = capsys.readouterr().err
    assert "teacher: RIFE" not in err and "bfloat16" not in err
