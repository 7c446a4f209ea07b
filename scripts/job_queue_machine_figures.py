"""How soon the job-queue state machine finds a library's defect, and how long it runs clean.

The figures of the README's third-party queues section come from this (two cores):

    .venv/bin/python scripts/job_queue_machine_figures.py rq '{"queues": 2}'
    .venv/bin/python scripts/job_queue_machine_figures.py rq '{"queues": 1}'
    .venv/bin/python scripts/job_queue_machine_figures.py dramatiq '{}' --cap 300

Per seed (0-9 by default): the machine runs without shrinking until its first failing
example or `--cap` examples; the script prints that example's number and the invariant,
then the median and maximum over the seeds (a seed that found nothing counts as the cap),
and the time per example.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time

from hypothesis import Phase
from hypothesis import settings as Settings

from harness.commands.job_queues import load_job_queue_factory
from harness.job_queue_machine import (
    JobQueueMachineSetup,
    job_queue_settings,
    run_job_queue_machine,
)
from harness.servers.services import open_services


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("target")
    parser.add_argument("options", nargs="?", default="{}", help="the adapter's, as JSON")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--cap", type=int, default=200, help="examples per seed at most")
    args = parser.parse_args()
    logging.disable(logging.ERROR)  # rq logs every abandoned job and every swallowed error
    options = json.loads(args.options)
    factory = load_job_queue_factory(args.target)
    settings = Settings(job_queue_settings(args.cap), phases=[Phase.generate])
    found: list[int] = []
    examples = steps = 0
    seconds = 0.0
    with open_services() as services:
        for seed in range(args.seeds):
            setup = JobQueueMachineSetup(services, factory, args.target, options)
            started = time.perf_counter()
            result = run_job_queue_machine(setup, settings, seed=seed)
            seconds += time.perf_counter() - started
            examples, steps = examples + result.examples, steps + result.steps
            first = result.first_failing_example or args.cap
            found.append(first)
            what = ", ".join(result.invariants_violated) or f"held ({result.examples} examples)"
            print(f"seed {seed}: {what}" + (f" at example {first}" if not result.holds else ""),
                  flush=True)
    print(f"{args.target} {options}: first failing example median "
          f"{statistics.median(found):g}, max {max(found)} (cap {args.cap}); "
          f"{examples} examples, {steps} steps in {seconds:.1f} s "
          f"({1000 * seconds / max(examples, 1):.0f} ms per example)")


if __name__ == "__main__":
    main()
