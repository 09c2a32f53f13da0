"""benchmarks/heldout_eval.py: how ``--model`` entries become filter options."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from heldout_eval import model_label, model_options, parse_models  # noqa: E402


def test_model_entries_with_ensemble_and_checkpoint() -> None:
    entries = parse_models(["ifrnet-s:ensemble=runs/x/last.pt", "superslomo"], rife=False)
    assert entries == [("ifrnet-s:ensemble", "runs/x/last.pt"), ("superslomo", None)]
    assert model_options("ifrnet-s:ensemble") == {"model": "ifrnet-s", "ensemble": True}
    assert model_options("superslomo") == {"model": "superslomo", "ensemble": False}
    assert model_label(*entries[0]) == "ifrnet-s:ensemble (x)"
    assert parse_models([])[0] == ("rife", None)


def test_unknown_model_option_is_refused_before_any_work() -> None:
    with pytest.raises(SystemExit, match="unknown model option 'fast'"):
        parse_models(["rife:fast"])
