"""Weight files that are damaged, hostile or of the wrong kind get one clear line each."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
from torch import nn

from vsslomo.models.checkpoint import CheckpointError, load_strict, read_checkpoint, tensor_dict

WHAT = "test checkpoint"


class _Evil:
    def __reduce__(self):  # would run code on a plain unpickle
        return (print, ("pwned",))


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: _write(p, b""), "is empty"),
        (lambda p: _write(p, bytes(range(256)) * 8), "not a PyTorch weights file"),
        (lambda p: torch.save({"w": _Evil()}, p), "other than tensors"),
        (lambda p: _write(p, pickle.dumps([1, 2], protocol=4)), "not a PyTorch weights file"),
        (lambda p: (torch.save({"a": torch.zeros(2)}, p), _write(p, p.read_bytes()[:40]))[1], "truncated or damaged"),
    ],
    ids=["empty", "random-bytes", "malicious-pickle", "plain-pickle", "truncated"],
)
def test_unreadable_files_are_one_clear_line(tmp_path: Path, make, message: str) -> None:
    path = tmp_path / "w.pt"
    make(path)
    with pytest.raises(CheckpointError, match=message) as info:
        read_checkpoint(path, WHAT)
    text = str(info.value)
    assert "\n" not in text and "weights_only" not in text and str(path) in text


def test_directory_and_missing_file_are_told_apart(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="is a directory"):
        read_checkpoint(tmp_path, WHAT)
    with pytest.raises(CheckpointError, match="does not exist"):
        read_checkpoint(tmp_path / "absent.pt", WHAT)


@pytest.mark.parametrize(
    "obj, message",
    [([1, 2], "a list"), (torch.zeros(3), "a single tensor"), ({"w": 1}, "entry 'w' is int"), ({}, "no tensors")],
)
def test_wrong_kinds_of_content(tmp_path: Path, obj, message: str) -> None:
    path = tmp_path / "w.pt"
    torch.save(obj, path)
    with pytest.raises(CheckpointError, match=message):
        tensor_dict(read_checkpoint(path, WHAT), WHAT, path)


def test_module_prefix_is_stripped_and_strict_loading_lists_problems(tmp_path: Path) -> None:
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 2, 1))
    state = {f"module.{k}": v for k, v in net.state_dict().items()}
    assert set(tensor_dict(state, WHAT, "x")) == set(net.state_dict())

    bad = dict(net.state_dict())
    del bad["1.bias"]
    bad["0.weight"] = torch.zeros(4, 3, 5, 5)
    bad["extra"] = torch.zeros(1)
    with pytest.raises(CheckpointError) as info:
        load_strict(net, bad, WHAT, "x")
    text = str(info.value)
    assert "missing: 1.bias" in text and "unexpected: extra" in text and "0.weight (4, 3, 5, 5)" in text

    nan = dict(net.state_dict())
    nan["0.weight"] = torch.full_like(nan["0.weight"], float("nan"))
    with pytest.raises(CheckpointError, match="non-finite"):
        load_strict(net, nan, WHAT, "x")
