"""OpDeadline: a call returns what it returns, raises what it raises, or is hung past the limit."""

from __future__ import annotations

import threading
import time

import pytest

from harness.op_deadline import OpDeadline, OperationHung


def test_a_call_within_the_limit_returns_its_value_or_raises_its_error():
    deadline = OpDeadline(5.0)
    assert deadline.call(lambda: 42) == 42
    with pytest.raises(KeyError):
        deadline.call(lambda: {}["missing"])


def test_a_call_past_the_limit_raises_operation_hung_and_the_next_call_is_served():
    deadline = OpDeadline(0.2)
    with pytest.raises(OperationHung, match=r"no answer within 0\.2 s"):
        deadline.call(lambda: time.sleep(60))
    assert deadline.call(lambda: "next") == "next"


def test_close_lets_every_helper_end():
    deadline = OpDeadline(5.0)
    caller = threading.Thread(target=lambda: deadline.call(lambda: None), name="qc-closing")
    caller.start()
    caller.join()
    helpers = [t for t in threading.enumerate() if t.name == "qc-closing-call"]
    assert len(helpers) == 1
    deadline.close()
    helpers[0].join(timeout=5)
    assert not helpers[0].is_alive()
