"""One progress bar on stderr, with fps and ETA, for the single-process and the chunked render."""

from __future__ import annotations

from types import TracebackType
from typing import Any


class Bar:
    """A rich progress bar over ``total`` frames (invisible with ``quiet``)."""

    def __init__(self, label: str, total: int, quiet: bool = False):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
        from rich.text import Text

        class FpsColumn(ProgressColumn):
            def render(self, task: Any) -> Text:
                return Text(f"{task.speed:6.2f} fps" if task.speed else "   ... fps")

        self._progress = Progress(
            TextColumn(f"[bold]{label}"),
            BarColumn(),
            MofNCompleteColumn(),
            FpsColumn(),
            TextColumn("elapsed"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            disable=quiet,
            speed_estimate_period=30.0,
        )
        self._task = self._progress.add_task(label, total=total)

    def __enter__(self) -> "Bar":
        self._progress.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._progress.__exit__(kind, exc, tb)

    def advance(self, frames: int = 1) -> None:
        """Count ``frames`` more frames done."""
        self._progress.advance(self._task, frames)

    def update(self, completed: int) -> None:
        """Set the number of frames done (frames reported by several workers)."""
        self._progress.update(self._task, completed=completed)
