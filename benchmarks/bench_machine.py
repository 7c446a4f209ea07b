"""How hard the state machine works and how fast it finds each Phase 1 defect.

Measured in one run on the local backend:
  - steps per second of the machine on the reference queue with every fault kind, and
    with no faults at all (same rules, same checker): the ratio is what faults cost;
  - for each single-defect variant (queue_impl.variants), the number of examples until
    the machine first fails, over N seeds (random generation, no shrinking): median, max,
    and how many seeds found nothing within the limit.

  python -m benchmarks machine [--seeds 20] [--limit 300] [--examples 60]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import replace

from hypothesis import Phase, settings

from harness.config import ServicesConfig
from harness.driver import Driver
from harness.machine import MachineSetup, run_machine
from harness.profiles import profile_settings
from harness.services import open_services
from queue_impl.variants import VARIANTS


class StepCounter:
    """Counts the operations and examples the machine runs (wraps Driver.run / __init__)."""

    def __init__(self) -> None:
        self.steps = 0
        self.examples = 0
        self._run = Driver.run
        self._init = Driver.__init__

    def __enter__(self) -> StepCounter:
        counter = self

        def run(driver, *args, **kwargs):  # type: ignore[no-untyped-def]
            counter.steps += 1
            return counter._run(driver, *args, **kwargs)

        def init(driver, *args, **kwargs):  # type: ignore[no-untyped-def]
            counter.examples += 1
            counter._init(driver, *args, **kwargs)

        Driver.run, Driver.__init__ = run, init  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        Driver.run, Driver.__init__ = self._run, self._init  # type: ignore[method-assign]


def throughput(services, faults: bool, examples: int) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    """Machine steps per second on the reference, with every fault kind or with none."""
    setup = MachineSetup(services, "reference")
    if not faults:
        setup = replace(setup, fault_kinds=())
    gen = settings(profile_settings("gate", max_examples=examples), phases=[Phase.generate])
    with StepCounter() as counter:
        started = time.perf_counter()
        run_machine(setup, gen)
        elapsed = time.perf_counter() - started
    return counter.steps / elapsed, counter.steps


def examples_to_detection(services, spec: str, seed: int, limit: int) -> int | None:  # type: ignore[no-untyped-def]
    search = settings(profile_settings("gate", max_examples=limit), derandomize=False,
                      phases=[Phase.generate], report_multiple_bugs=False)
    with StepCounter() as counter:
        result = run_machine(MachineSetup(services, spec), search, seed=seed)
    return None if result.holds else counter.examples


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks machine")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--limit", type=int, default=300, help="examples per seed, at most")
    parser.add_argument("--examples", type=int, default=60, help="for the throughput figure")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args(argv)
    with open_services(ServicesConfig.from_env()) as services:
        with_faults, n1 = throughput(services, True, args.examples)
        without, n2 = throughput(services, False, args.examples)
        print(f"machine steps/s on the reference: {with_faults:.0f} with faults ({n1} steps), "
              f"{without:.0f} without ({n2} steps); ratio {with_faults / without:.2f}")
        print(f"examples until first detection over {args.seeds} seeds "
              f"(limit {args.limit}, no shrinking):")
        print(f"{'variant':12} {'median':>7} {'max':>5} {'missed':>7}  defect")
        for vid in args.variants.split(","):
            found = [examples_to_detection(services, f"variant:{vid}", seed, args.limit)
                     for seed in range(args.seeds)]
            hits = [n for n in found if n is not None]
            median = f"{statistics.median(hits):.0f}" if hits else "-"
            print(f"{vid:12} {median:>7} {max(hits, default=0):>5} "
                  f"{found.count(None):>7}  {VARIANTS[vid].defect[:60]}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
