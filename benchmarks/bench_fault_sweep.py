"""What the fault sweep (harness/fault_sweep.py) finds, and what it costs.

Measured in one run on the local backend, for each queue: how many programs the whole
sweep runs and how long it takes (what a passing gate pays for it), and, per severity, the
number of the first program that broke one of its invariants. The correct queues must hold
(exit 1 if one does not); the single-defect variants (queue_impl.variants) and the holdout
defects (queue_impl.holdout_variants, never tuned on) are counted as found or missed. The
sweep is deterministic: one run per queue is its figure.

  python -m benchmarks fault_sweep [--queues correct,variants,holdouts]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.driver import Driver
from harness.fault_sweep import sweep
from harness.faults import FaultKind
from harness.servers.config import ServicesConfig
from harness.servers.services import open_services
from queue_impl.holdout_variants import HOLDOUT
from queue_impl.variants import VARIANTS

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "external_queue"
CORRECT = ("reference", "pipeline-fix", "simple_queue:make_queue",
           "queue_impl.functions_queue:make_queue", "queue_impl.optimistic_queue:make_queue")
GROUPS = {
    "correct": {name: name for name in CORRECT},
    "variants": {vid: f"variant:{vid}" for vid in VARIANTS},
    "holdouts": {hid: f"queue_impl.holdout_variants:{factory}"
                 for hid, (factory, _) in HOLDOUT.items()},
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks fault_sweep")
    parser.add_argument("--queues", default=",".join(GROUPS),
                        help=f"groups to run, of {', '.join(GROUPS)}")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(EXAMPLE))
    false_alarms = 0
    with open_services(ServicesConfig.from_env()) as services:
        for group in args.queues.split(","):
            found = 0
            for name, target in GROUPS[group].items():
                outcome = sweep(lambda t=target: Driver(services, t, process="sweep"),
                                tuple(FaultKind))
                firsts = ", ".join(f"{severity} at #{f.number} ({', '.join(f.invariants)})"
                                   for severity, f in sorted(outcome.found.items(),
                                                             key=lambda i: i[1].number))
                print(f"{group:9} {name:42.42} {outcome.programs:4} programs "
                      f"{outcome.seconds:5.1f} s  {firsts or 'nothing found'}", flush=True)
                found += bool(outcome.found)
                if group == "correct" and outcome.found:
                    false_alarms += 1
                    print(outcome.report())
            print(f"{group}: {found} of {len(GROUPS[group])} with a finding", flush=True)
    return 1 if false_alarms else 0


if __name__ == "__main__":
    sys.exit(main())
