"""A Ctrl-C or SIGTERM that Python drops still stops the run.

A signal handler's exception raised while a gc callback runs (Hypothesis times garbage
collection with one) is printed and discarded by Python; a cancelled gate once went on to
its verdict (exit 0). Here a gc callback raises what the handler would, and the interrupt
must come back at the next operation, or when the command's signal block ends.
"""

from __future__ import annotations

import gc
import signal
from collections.abc import Iterator

import pytest

from harness.servers.processes import Terminated, raise_if_interrupted, terminate_on_signals


@pytest.fixture
def interrupt_in_gc() -> Iterator[list[KeyboardInterrupt]]:
    """The next collection raises `pending`'s first interrupt inside a gc callback."""
    pending: list[KeyboardInterrupt] = []

    def callback(phase: str, _info: dict) -> None:
        if phase == "start" and pending:
            raise pending.pop()

    gc.callbacks.append(callback)
    try:
        yield pending
    finally:
        gc.callbacks.remove(callback)


def test_a_terminated_dropped_in_a_gc_callback_is_raised_at_the_next_operation(
        interrupt_in_gc):
    with pytest.raises(Terminated), terminate_on_signals(exit_when_uncaught=False):
        interrupt_in_gc.append(Terminated(signal.SIGTERM))
        gc.collect()  # Python reports the exception and goes on
        raise_if_interrupted()
        pytest.fail("the run went on after a SIGTERM")


def test_an_interrupt_dropped_after_the_last_operation_is_raised_when_the_block_ends(
        interrupt_in_gc):
    with pytest.raises(KeyboardInterrupt), terminate_on_signals(exit_when_uncaught=False):
        interrupt_in_gc.append(KeyboardInterrupt())
        gc.collect()


def test_nothing_dropped_leaves_the_block_alone():
    with terminate_on_signals(exit_when_uncaught=False):
        gc.collect()
        raise_if_interrupted()
