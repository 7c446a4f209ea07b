"""Progress for long commands: a live line on a terminal, nothing in a CI log."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

from rich.console import Console

from harness.fault_sweep import SWEEP_FINDING


@contextlib.contextmanager
def progress_line(what: str) -> Iterator[Callable[[str], None]]:
    """Yields `update(text)`; shows a spinner with the text only when stderr is a terminal."""
    console = Console(file=sys.stderr)
    if not console.is_terminal:
        yield lambda _text: None
        return
    with console.status(what) as status:
        yield lambda text: status.update(f"{what}: {text}")


def print_first_failure(budget: float) -> Callable[[str], None]:
    """Say at once (on stderr) what the machine found, before it spends time shrinking."""
    def show(explanation: str) -> None:
        if explanation.startswith(SWEEP_FINDING):  # short by construction: nothing to shrink
            print(f"state machine: the fault sweep found a failing program:\n{explanation}\n",
                  file=sys.stderr, flush=True)
            return
        print(f"state machine: found a failing program; shrinking it (at most {budget:g} s "
              f"per pass). As found:\n{explanation}\n", file=sys.stderr, flush=True)
    return show
