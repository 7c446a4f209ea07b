"""Progress of a nightly run: a rich bar on a terminal, a plain line now and then in CI logs."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import IO, Protocol

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn


@dataclass(frozen=True)
class Tick:
    elapsed: float
    budget: float
    ops: int
    ops_per_second: float
    faults: int  # windows applied so far
    active_fault: str | None
    violations: int

    def line(self) -> str:
        fault = f" (now: {self.active_fault})" if self.active_fault else ""
        return (
            f"{self.elapsed:5.0f}s/{self.budget:.0f}s  ops={self.ops} "
            f"({self.ops_per_second:.0f}/s)  faults={self.faults}{fault}  "
            f"violations={self.violations}"
        )


class ProgressSink(Protocol):
    def update(self, tick: Tick) -> None: ...
    def message(self, text: str) -> None: ...
    def close(self) -> None: ...


class RichProgress:
    """A live bar: elapsed/budget, ops/s, faults, violations so far."""

    def __init__(self, budget: float, stream: IO[str]) -> None:
        self._progress = Progress(
            TextColumn("[bold]nightly"),
            BarColumn(),
            TextColumn("{task.fields[status]}"),
            console=Console(file=stream),
            transient=False,
        )
        self._task = self._progress.add_task("nightly", total=budget, status="starting")
        self._progress.start()

    def update(self, tick: Tick) -> None:
        self._progress.update(self._task, completed=min(tick.elapsed, tick.budget),
                              status=tick.line())

    def message(self, text: str) -> None:
        self._progress.console.print(text)

    def close(self) -> None:
        self._progress.stop()


class PlainProgress:
    """One line every `every` seconds: readable in a CI log, no control characters."""

    def __init__(self, stream: IO[str], every: float) -> None:
        self._stream = stream
        self._every = every
        self._last = -every

    def update(self, tick: Tick) -> None:
        now = time.monotonic()
        if now - self._last >= self._every:
            self._last = now
            self.message(f"nightly: {tick.line()}")

    def message(self, text: str) -> None:
        print(text, file=self._stream, flush=True)

    def close(self) -> None:
        pass


class QuietProgress:
    def update(self, tick: Tick) -> None:
        pass

    def message(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


def progress_for(budget: float, stream: IO[str] | None = None, quiet: bool = False) -> ProgressSink:
    """A bar on a TTY, plain lines (every ~10% of the budget, 5-60 s apart) otherwise."""
    stream = stream or sys.stderr
    if quiet:
        return QuietProgress()
    if stream.isatty():
        return RichProgress(budget, stream)
    return PlainProgress(stream, every=min(60.0, max(5.0, budget / 10)))
