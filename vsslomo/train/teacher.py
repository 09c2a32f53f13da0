"""Teacher flows for flow distillation: our shipped RIFE HDv3 on real frames, cached on disk.

``RIFEHDv3.estimate(I_a, I_b)`` gives the flows from the (estimated) middle frame to both
inputs. IFRNet needs, for a target at time t between inputs I_0 and I_1, the flows from the
target to each input. For a target that is a real frame c of a video, with the inputs at
c - a and c + b, the teacher runs on the pair *centred on the target*: (c - a, c + a) gives
F_t->0 (its first half) and (c - b, c + b) gives F_t->1 (its second half). Both then start
at the target's own time; at t = 0.5 (a = b) this is exactly the run on the inputs. The
alternative, scaling the flows of the run on the inputs (``2t * F_0.5->0``), starts them at
time 0.5 instead of t, which is wrong by up to |t - 0.5| times the motion at moving edges.
The price is one RIFE run per (frame, half-span) instead of per pair, paid once: the flows
are stored at half resolution (distillation supervises the coarse levels, and flows are
smooth) as float16 memory maps, ``(N, 4, H/2, W/2)`` per half-span, keyed by the decoded
frames so a changed source or size never reuses stale flows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from ..models import contract
from .data import FrameSource, to_tensor

CACHE_VERSION = 1


def source_key(src: FrameSource) -> str:
    """A short digest of a decoded source (size, frame count and a sample of its pixels)."""
    h = hashlib.sha256()
    h.update(repr((CACHE_VERSION, src.frames.shape)).encode())
    step = max(1, len(src.frames) // 16)
    for frame in src.frames[::step]:
        h.update(np.ascontiguousarray(frame[::8, ::8]).tobytes())
    return h.hexdigest()[:16]


class RIFETeacher:
    """RIFE HDv3 flows from a frame to its neighbours at +-d, for whole frames (padded to 32)."""

    def __init__(self, checkpoint: Path | None = None, device: str = "cpu", scale: float = 1.0) -> None:
        from ..models.rife import load_rife

        self.model = load_rife(checkpoint).to(device).to(memory_format=torch.channels_last)
        self.device = torch.device(device)
        self.scale = scale

    @torch.inference_mode()
    def flows(self, before: np.ndarray, after: np.ndarray) -> np.ndarray:
        """``(4, H/2, W/2)`` float16 flows from the middle of (before, after) to both, full-size pixels."""
        a, b = (to_tensor(x)[None].to(self.device) for x in (before, after))
        h, w = a.shape[-2:]
        multiple = contract.pad_multiple(self.model, self.scale)
        ph, pw = (-h) % multiple, (-w) % multiple
        if ph or pw:
            a, b = (F.pad(x, (0, pw, 0, ph), mode="replicate") for x in (a, b))
        a, b = (x.contiguous(memory_format=torch.channels_last) for x in (a, b))
        flow, _ = self.model.estimate(a, b, self.scale)
        flow = flow[..., :h, :w].float()
        half = F.avg_pool2d(flow, 2, ceil_mode=True)
        return half[0].cpu().numpy().astype(np.float16)


class FlowCache:
    """Teacher flows of one source for half-spans ``half_spans``, computed on demand into ``folder``."""

    def __init__(self, folder: Path, src: FrameSource, half_spans: Sequence[int], scale: float = 1.0) -> None:
        n, h, w = src.frames.shape[:3]
        self.src = src
        tag = "" if scale == 1.0 else f"-s{scale:g}"
        self.folder = Path(folder) / f"{Path(src.name).stem}-{source_key(src)}{tag}"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.shape = (n, 4, (h + 1) // 2, (w + 1) // 2)
        self.maps: dict[int, np.memmap] = {}
        self.done: dict[int, np.ndarray] = {}
        (self.folder / "source.json").write_text(json.dumps({"name": src.name, "shape": list(src.frames.shape)}))
        for d in sorted(set(half_spans)):
            path = self.folder / f"d{d}.f16"
            mode: Literal["r+", "w+"] = "r+" if path.exists() else "w+"
            self.maps[d] = np.memmap(path, dtype=np.float16, mode=mode, shape=self.shape)
            done_path = self.folder / f"d{d}.done.npy"
            self.done[d] = np.load(done_path) if done_path.exists() else np.zeros(n, dtype=bool)

    def missing(self, centres: range) -> list[tuple[int, int]]:
        """(centre, d) entries inside ``centres`` (both neighbours too) not computed yet."""
        out = []
        for d, done in self.done.items():
            out += [(c, d) for c in centres if c - d >= centres.start and c + d < centres.stop and not done[c]]
        return out

    def fill(self, teacher: RIFETeacher, centres: range, log: Callable[[str], None] | None = None,
             save_every: int = 25) -> int:
        """Compute the missing entries of ``centres``; returns how many were computed."""
        todo = self.missing(centres)
        for i, (c, d) in enumerate(todo):
            self.maps[d][c] = teacher.flows(self.src.frames[c - d], self.src.frames[c + d])
            self.done[d][c] = True
            if (i + 1) % save_every == 0 or i + 1 == len(todo):
                self._save()
                if log is not None:
                    log(f"teacher flows {self.src.name}: {i + 1}/{len(todo)}")
        return len(todo)

    def _save(self) -> None:
        for d, m in self.maps.items():
            m.flush()
            np.save(self.folder / f"d{d}.done.npy", self.done[d])

    def lookup(self, centre: int, d: int) -> np.ndarray | None:
        """The stored flows of (centre, d), or ``None`` if not computed."""
        if d not in self.maps or not self.done[d][centre]:
            return None
        return self.maps[d][centre]


def half_spans_for(window: int) -> list[int]:
    """Half-spans a window of ``window`` frames needs: targets sit 1 .. window - 2 frames from an input."""
    return list(range(1, window - 1))
