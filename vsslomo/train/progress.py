"""Training progress display: a rich progress bar on a terminal, plain log lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _fmt_time(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """Reports steps with loss, PSNR, throughput (samples/s) and ETA.

    ``enabled=False`` (non-zero DDP ranks) makes every method a no-op. ``rich=None`` picks the
    rich bar when ``stream`` is a terminal.
    """

    def __init__(self, total_steps: int, enabled: bool = True, rich: bool | None = None,
                 log_every: int = 20, stream: TextIO | None = None) -> None:
        self.total = total_steps
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.use_rich = enabled and (self.stream.isatty() if rich is None else rich)
        self.log_every = max(1, log_every)
        self.start = time.monotonic()
        self.done = 0
        self.samples = 0
        self._bar = None
        self._task = None
        if self.use_rich:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[stats]}"),
                TimeRemainingColumn(),
                console=Console(file=self.stream),
            )
            self._bar.start()
            self._task = self._bar.add_task("train", total=total_steps, stats="")

    def log(self, message: str) -> None:
        """A line of text above the bar (or on its own)."""
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.console.print(message)
        else:
            print(message, file=self.stream, flush=True)

    def step(self, epoch: int, step_in_epoch: int, batch: int, loss: float, psnr: float, lr: float) -> None:
        """Account for one optimisation step of ``batch`` samples (summed over ranks)."""
        if not self.enabled:
            return
        self.done += 1
        self.samples += batch
        elapsed = time.monotonic() - self.start
        rate = self.samples / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) * elapsed / self.done
        stats = f"loss {loss:.3f}  psnr {psnr:.2f} dB  {rate:.1f} samples/s  lr {lr:.2e}"
        if self._bar is not None:
            assert self._task is not None  # added with the bar
            self._bar.update(self._task, completed=self.done, description=f"epoch {epoch}", stats=stats)
        elif self.done % self.log_every == 0 or self.done == self.total:
            self.log(f"epoch {epoch} step {step_in_epoch} [{self.done}/{self.total}] {stats}  "
                     f"elapsed {_fmt_time(elapsed)}  eta {_fmt_time(eta)}")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
