"""The reference queue, leaving a mark when it is built, so a test can signal a run under way.

QC_MARK        a file touched when the factory is called (by the state machine only, if
               QC_MARK_MACHINE is set: the factory then looks for a state machine calling it)
QC_SLOW_FACTORY  seconds the factory sleeps after marking (a run kept in its setup)
"""

import inspect
import os
import time
from pathlib import Path

from hypothesis.stateful import RuleBasedStateMachine

from harness.target import load_factory

REFERENCE = load_factory("reference")


def called_by_the_machine() -> bool:
    """Whether a Hypothesis state machine is on the calling thread's stack."""
    return any(isinstance(frame.frame.f_locals.get("self"), RuleBasedStateMachine)
               for frame in inspect.stack())


def make_queue(client, registry):
    if not os.environ.get("QC_MARK_MACHINE") or called_by_the_machine():
        Path(os.environ["QC_MARK"]).touch()
        time.sleep(float(os.environ.get("QC_SLOW_FACTORY", "0")))
    return REFERENCE(client, registry)
