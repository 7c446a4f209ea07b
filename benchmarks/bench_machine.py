"""How hard the state machine works and how fast it finds each Phase 1 defect.

Measured in one run on the local backend:
  - steps per second of the machine on the reference queue with every fault kind, and
    with no faults at all (same rules, same checker): the ratio is what faults cost;
  - steps per second with the executable spec judging every step and with it switched
    off (the invariant rules only), and the most candidate states the spec held at once;
  - where a step's time goes: the target's calls (with and without a fault armed),
    Toxiproxy control calls, the snapshot, the rules, the spec, and the rest (Hypothesis);
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

from harness import driver as driver_module
from harness.checker import Checker
from harness.driver import Driver
from harness.machine import MachineSetup, run_machine
from harness.profiles import profile_settings
from harness.servers.config import ServicesConfig
from harness.servers.services import open_services
from harness.spec import SpecJudge
from harness.toxiproxy import ToxiproxyControl
from queue_impl.variants import VARIANTS


def throughput(services, faults: bool, examples: int) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    """Machine steps per second on the reference, with every fault kind or with none."""
    setup = MachineSetup(services, "reference")
    if not faults:
        setup = replace(setup, fault_kinds=())
    gen = settings(profile_settings("gate", max_examples=examples), phases=[Phase.generate])
    started = time.perf_counter()
    result = run_machine(setup, gen)
    elapsed = time.perf_counter() - started
    return result.steps / elapsed, result.steps


class Timers:
    """Wall time spent in chosen functions, by part, while the block runs (patched in place)."""

    def __init__(self, parts: dict[str, tuple[object, str]]) -> None:
        self.parts = parts
        self.seconds = dict.fromkeys(parts, 0.0)
        self._saved: list[tuple[object, str, object]] = []

    def __enter__(self) -> Timers:
        for part, (owner, name) in self.parts.items():
            original = getattr(owner, name)
            self._saved.append((owner, name, original))
            setattr(owner, name, self._timed(part, original))
        return self

    def _timed(self, part: str, original):  # type: ignore[no-untyped-def]
        def timed(*args, **kwargs):  # type: ignore[no-untyped-def]
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[part] += time.perf_counter() - started
        return timed

    def __exit__(self, *exc: object) -> None:
        for owner, name, original in reversed(self._saved):
            setattr(owner, name, original)


class TargetCallTimer:
    """Wall time of the target's own calls, split by whether a fault was planned."""

    def __init__(self) -> None:
        self.seconds = {"faulted": 0.0, "clean": 0.0}
        self._attempt = Driver._attempt

    def __enter__(self) -> TargetCallTimer:
        timer = self

        def attempt(driver, client, call, faults, through):  # type: ignore[no-untyped-def]
            started = time.perf_counter()
            try:
                return timer._attempt(driver, client, call, faults, through)
            finally:
                timer.seconds["faulted" if faults else "clean"] += (
                    time.perf_counter() - started)

        Driver._attempt = attempt  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        Driver._attempt = self._attempt  # type: ignore[method-assign]


class SpecSwitch:
    """The spec judging (on) or not (off), and the most candidate states it held."""

    def __init__(self, on: bool) -> None:
        self.on = on
        self.largest = 0
        self._saved = {name: getattr(SpecJudge, name) for name in JUDGING}

    def __enter__(self) -> SpecSwitch:
        for name, original in self._saved.items():
            setattr(SpecJudge, name, self._switched(original))
        return self

    def _switched(self, original):  # type: ignore[no-untyped-def]
        def observe(judge, ops, snapshot=None):  # type: ignore[no-untyped-def]
            if not self.on:
                return []
            found = original(judge, ops, snapshot)
            self.largest = max(self.largest, judge.largest_branch_count)
            return found
        return observe

    def __exit__(self, *exc: object) -> None:
        for name, original in self._saved.items():
            setattr(SpecJudge, name, original)


JUDGING = ("observe", "observe_overlapping")  # the SpecJudge methods a driver calls


def spec_cost(services, examples: int) -> None:  # type: ignore[no-untyped-def]
    """Steps/s with the spec and without, the largest branch count, and a time breakdown."""
    gen = settings(profile_settings("gate", max_examples=examples), phases=[Phase.generate])
    rates = {}
    for on in (True, False):
        parts = {"toxiproxy control": (ToxiproxyControl, "_call"),
                 "snapshot": (driver_module, "take_snapshot"),
                 "rules (checker)": (Checker, "observe"),
                 "rules (checker, overlapping)": (Checker, "observe_overlapping"),
                 "rules (state)": (Checker, "check_state"),
                 "spec": (SpecJudge, "observe"),
                 "spec (overlapping)": (SpecJudge, "observe_overlapping")}
        with (SpecSwitch(on) as switch, Timers(parts) as timers,
              TargetCallTimer() as calls):
            started = time.perf_counter()
            result = run_machine(MachineSetup(services, "reference"), gen)
            elapsed = time.perf_counter() - started
        rates[on] = result.steps / elapsed
        label = "with the spec" if on else "without the spec"
        print(f"machine steps/s on the reference {label}: {rates[on]:.0f} "
              f"({result.steps} steps, {result.overlapping} of them overlapping, in "
              f"{elapsed:.1f} s)")
        if on:
            print(f"  largest number of candidate states held at once: {switch.largest}")
            shares = {"target calls with a fault planned (waits included)": calls.seconds[
                "faulted"], "target calls without a fault": calls.seconds["clean"]}
            shares["  of which toxiproxy control"] = timers.seconds["toxiproxy control"]
            for part in ("snapshot", "rules (checker)", "rules (checker, overlapping)",
                         "rules (state)", "spec", "spec (overlapping)"):
                shares[part] = timers.seconds[part]
            counted = sum(v for k, v in shares.items() if not k.startswith("  "))
            shares["the rest (Hypothesis, the driver, setup)"] = elapsed - counted
            for part, seconds in shares.items():
                print(f"  {part:55} {1000 * seconds / result.steps:7.2f} ms/step "
                      f"{100 * seconds / elapsed:5.1f} %")
    print(f"ratio with/without the spec: {rates[True] / rates[False]:.2f}")


def examples_to_detection(services, spec: str, seed: int, limit: int) -> int | None:  # type: ignore[no-untyped-def]
    search = settings(profile_settings("gate", max_examples=limit), derandomize=False,
                      phases=[Phase.generate], report_multiple_bugs=False)
    result = run_machine(MachineSetup(services, spec), search, seed=seed)
    return None if result.holds else result.examples


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks machine")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--limit", type=int, default=300, help="examples per seed, at most")
    parser.add_argument("--examples", type=int, default=60, help="for the throughput figure")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args(argv)
    with open_services(ServicesConfig.from_env()) as services:
        spec_cost(services, args.examples)
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
