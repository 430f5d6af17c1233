"""Progress of a run: a rich live bar (step, loss, learning rate, tokens/s, ETA) on a terminal, plain lines
otherwise (logs, CI, pipes)."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


class Reporter:
    """Receives the run's events; the default says nothing."""

    def start(self, *, total: int, done: int) -> None:
        """The run starts at step ``done`` of ``total``."""

    def step(self, record: dict[str, Any]) -> None:
        """A step finished (``record``: step, loss, lr, tokens, tokens_per_s, ...)."""

    def message(self, text: str) -> None:
        """A one-line note (evaluation, checkpoint)."""

    def stop(self) -> None:
        """The run ended (or was interrupted)."""


class PlainReporter(Reporter):
    """One line per ``every`` steps, and the first and last step.

    Args:
        stream: where to write.
        every: steps between lines (default: about 20 lines per run).
    """

    def __init__(self, stream: TextIO | None = None, every: int | None = None) -> None:
        self.stream = stream or sys.stderr
        self.every = every
        self.total = 0
        self.t0 = time.perf_counter()
        self.done0 = 0

    def start(self, *, total: int, done: int) -> None:
        self.total, self.done0, self.t0 = total, done, time.perf_counter()
        if self.every is None:
            self.every = max(1, (total - done) // 20)
        print(f"training: steps {done + 1}..{total}", file=self.stream, flush=True)

    def step(self, record: dict[str, Any]) -> None:
        s = record["step"]
        if (s - self.done0) % (self.every or 1) and s != self.total and s != self.done0 + 1:
            return
        rate = (s - self.done0) / max(time.perf_counter() - self.t0, 1e-9)
        eta = (self.total - s) / rate if rate > 0 else 0.0
        print(f"step {s}/{self.total}  loss {record['loss']:.4f}  lr {record['lr']:.3g}  "
              f"{record.get('tokens_per_s', 0):,.0f} tok/s  eta {eta:.0f}s", file=self.stream, flush=True)

    def message(self, text: str) -> None:
        print(text, file=self.stream, flush=True)


class RichReporter(Reporter):
    """A live rich progress bar with the latest loss, learning rate and throughput."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("loss {task.fields[loss]}  lr {task.fields[lr]}  {task.fields[rate]} tok/s"),
                                 TimeRemainingColumn(), transient=False)
        self.task: Any = None

    def start(self, *, total: int, done: int) -> None:
        self.progress.start()
        self.task = self.progress.add_task("train", total=total, completed=done, loss="-", lr="-", rate="-")

    def step(self, record: dict[str, Any]) -> None:
        self.progress.update(self.task, completed=record["step"], loss=f"{record['loss']:.4f}",
                             lr=f"{record['lr']:.3g}", rate=f"{record.get('tokens_per_s', 0):,.0f}")

    def message(self, text: str) -> None:
        self.progress.console.print(text)

    def stop(self) -> None:
        self.progress.stop()


def default_reporter() -> Reporter:
    """A :class:`RichReporter` when stderr is a terminal, else a :class:`PlainReporter`."""
    return RichReporter() if sys.stderr.isatty() else PlainReporter()
