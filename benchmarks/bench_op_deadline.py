"""What the operation time limit costs, and how far the default is from a healthy call.

Measured in one run on the local backend (real redis-server and toxiproxy-server):
  - one Redis PING through the proxy, called directly vs through OpDeadline.call (a hop to
    the caller's helper thread and back), alternating in blocks;
  - the longest target call of the reference queue under the state machine's faults (gate
    profile: stall faults wait the socket timeout) and under a nightly run's fault windows.
The default limit (harness.op_deadline.DEFAULT_OP_TIMEOUT) should sit well above the latter.

  python -m benchmarks op_deadline [--iterations N] [--examples N] [--nightly SECONDS]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import redis

from benchmarks import alternating, median, timing_row
from harness.history import read_jsonl
from harness.machine import MachineSetup, run_machine
from harness.nightly.run import HISTORY_FILE, NightlyOptions, NightlyRun
from harness.op_deadline import DEFAULT_OP_TIMEOUT, OpDeadline
from harness.profiles import profile_settings
from harness.servers.config import ServicesConfig
from harness.servers.services import open_services
from harness.target import CONTRACT_METHODS, load_factory

CALL_SECONDS: list[float] = []  # every call of the timed queue, in seconds


class TimedQueue:
    """The reference queue, each contract call timed (raising or not)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.key_schema = inner.key_schema

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)
        if name not in CONTRACT_METHODS:
            return method

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                CALL_SECONDS.append(time.perf_counter() - started)
        return timed


def timed_reference(client: redis.Redis, registry: Any) -> TimedQueue:
    return TimedQueue(load_factory("reference")(client, registry))




def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks op_deadline",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000, help="timed PINGs per figure")
    parser.add_argument("--examples", type=int, default=100, help="state machine examples")
    parser.add_argument("--nightly", type=float, default=20.0, help="nightly budget, seconds")
    args = parser.parse_args(argv)

    with open_services(ServicesConfig(backend="local")) as services:
        deadline = OpDeadline()
        with contextlib.closing(redis.Redis(host=services.proxy.host, port=services.proxy.port,
                                            protocol=2, retry=None)) as client:
            direct, limited = alternating(client.ping, lambda: deadline.call(client.ping),
                                          args.iterations)
        started = time.monotonic()
        run_machine(MachineSetup(services, timed_reference),  # type: ignore[arg-type]
                    profile_settings("gate", max_examples=args.examples))
        machine_seconds = time.monotonic() - started
        machine_calls = list(CALL_SECONDS)
        with tempfile.TemporaryDirectory() as out:
            NightlyRun(NightlyOptions(budget=args.nightly, seed=2024, machine=False),
                       services, Path(out)).execute()
            nightly_calls = [op["completed_at"] - op["invoked_at"]
                             for op in read_jsonl(Path(out) / HISTORY_FILE)]

    print(f"operation time limit: local backend, {args.iterations} PINGs each")
    print(timing_row("PING through the proxy, called directly", direct))
    print(timing_row("PING through the proxy, via OpDeadline.call", limited))
    print(f"  added per call: {median(limited) - median(direct):.3f} ms (median)")
    print(f"longest call, state machine (gate profile, {args.examples} examples, "
          f"{len(machine_calls)} calls, {machine_seconds:.0f} s): {max(machine_calls):.3f} s")
    print(f"longest call, nightly ({args.nightly:g} s, seed 2024, {len(nightly_calls)} calls): "
          f"{max(nightly_calls):.3f} s")
    print(f"default limit: {DEFAULT_OP_TIMEOUT:g} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
