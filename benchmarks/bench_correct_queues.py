"""Correct queues under long random runs: the harness must never call one broken.

Five queues written in different styles (the reference's one Lua script per write, the
review's pipeline fix with retries off, the external example's WATCH/MULTI, Redis
Functions with a key schema of its own, and optimistic transactions with another) run under
the `nightly` profile of the state machine, one run per seed, with the machine's logical
clients overlapping operations (pipeline-fix alone runs with one client: its GET-then-MULTI
gap is a real race, tests/test_overlapping.py). Printed: per queue, the seeds run,
examples, steps and overlapping steps, and every seed on which an invariant broke (with
the program). A false alarm on any of them is a bug of the harness.

  python -m benchmarks correct_queues [--seeds 20] [--examples 60] [--queues a,b]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from harness.machine import MachineSetup, run_machine
from harness.profiles import profile_settings
from harness.scheduler import DEFAULT_CLIENTS
from harness.servers.config import ServicesConfig
from harness.servers.services import open_services

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "external_queue"
CORRECT_QUEUES = {
    "reference": "reference",
    "pipeline-fix": "pipeline-fix",
    "external": "simple_queue:make_queue",
    "functions": "queue_impl.functions_queue:make_queue",
    "optimistic": "queue_impl.optimistic_queue:make_queue",
}
SEQUENTIAL_ONLY = frozenset({"pipeline-fix"})  # correct only while no two calls overlap


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks correct_queues")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--examples", type=int, default=60, help="per seed")
    parser.add_argument("--queues", default=",".join(CORRECT_QUEUES))
    args = parser.parse_args(argv)
    sys.path.insert(0, str(EXAMPLE))
    false_alarms = 0
    with open_services(ServicesConfig.from_env()) as services:
        for name in args.queues.split(","):
            setup = MachineSetup(services, CORRECT_QUEUES[name],
                                 clients=1 if name in SEQUENTIAL_ONLY else DEFAULT_CLIENTS)
            broken = []
            examples = steps = overlapping = 0
            started = time.perf_counter()
            for seed in range(args.seeds):
                result = run_machine(setup, profile_settings(
                    "nightly", max_examples=args.examples), seed=seed)
                examples, steps = examples + result.examples, steps + result.steps
                overlapping += result.overlapping
                if not result.holds:
                    broken.append((seed, result))
            seconds = time.perf_counter() - started
            print(f"{name:12} {args.seeds} seeds, {examples} examples, {steps} steps "
                  f"({overlapping} overlapping), {seconds:.0f} s: "
                  + (f"VIOLATED on seeds {[s for s, _ in broken]}" if broken else "held"),
                  flush=True)
            for seed, result in broken:
                print(f"--- {name}, seed {seed}: {result.invariants_violated}\n{result.report}")
            false_alarms += len(broken)
    return 1 if false_alarms else 0


if __name__ == "__main__":
    sys.exit(main())
