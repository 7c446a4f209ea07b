"""Every fault kind on every round trip of an ordinary run: which promises break, where.

The figures of docs/rq.md and docs/dramatiq.md come from this (about 35 s and 10 s on two
cores):

    .venv/bin/python scripts/job_queue_fault_sweep.py rq
    .venv/bin/python scripts/job_queue_fault_sweep.py dramatiq

Each configuration of the adapter runs the same twelve steps (three jobs: one done, one
failed, one abandoned by a worker that died; then rq's recovery twice, an hour apart, and
a worker that takes what is left), once per (step, round trip, fault kind),
on the real servers, judged by the generic job-queue contract. A run with no fault holds.
"""

from __future__ import annotations

import collections
import importlib
import logging
import sys
from typing import Any

from harness.faults import Fault
from harness.job_queue_run import JOB_QUEUE_FAULT_KINDS, JobQueueRun, JobStep
from harness.job_queue_target import JobQueueFactory
from harness.servers.services import Services, open_services
from harness.spec.job_queue import JobOp

STEPS = (JobStep(JobOp.ENQUEUE, "job-1"), JobStep(JobOp.TAKE), JobStep(JobOp.FINISH),
         JobStep(JobOp.ENQUEUE, "job-2"), JobStep(JobOp.TAKE), JobStep(JobOp.FAIL),
         JobStep(JobOp.ENQUEUE, "job-3"), JobStep(JobOp.TAKE),  # its worker dies
         JobStep(JobOp.RECOVER, at=0.0), JobStep(JobOp.RECOVER, at=3600.0),
         JobStep(JobOp.TAKE), JobStep(JobOp.FINISH))
KINDS = JOB_QUEUE_FAULT_KINDS
LIBRARIES: dict[str, tuple[str, tuple[dict[str, Any], ...]]] = {
    "rq": ("queue_impl.adapters.rq_adapter:make_rq", (
        {"queues": 1}, {"queues": 2}, {"queues": 1, "retries": 1},
        {"queues": 2, "retries": 1}, {"queues": 1, "unique": True})),
    "dramatiq": ("queue_impl.adapters.dramatiq_adapter:make_dramatiq", ({},)),
}


def factory_of(library: str) -> JobQueueFactory:
    module, _, attr = LIBRARIES[library][0].partition(":")
    return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


def play(services: Services, factory: JobQueueFactory, options: dict[str, Any],
         fault_at: tuple[int, Fault] | None) -> tuple[set[str], list[list[str]]]:
    """(the invariants broken, each step's round trips by first command) of one run."""
    run = JobQueueRun(services, factory, options, "adapter")
    broken: set[str] = set()
    trips: list[list[str]] = []
    try:
        for i, step in enumerate(STEPS):
            faults = (fault_at[1],) if fault_at and fault_at[0] == i else ()
            broken |= {p.invariant for p in run.step(step, faults)}
            trips.append([t.commands[1] if t.commands[0] == "MULTI" else t.commands[0]
                          for t in run.trips])
    finally:
        run.close()
    return broken, trips


def main(library: str) -> None:
    logging.disable(logging.ERROR)  # rq logs every abandoned job and every swallowed error
    factory = factory_of(library)
    with open_services() as services:
        for options in LIBRARIES[library][1]:
            clean, trips = play(services, factory, options, None)
            found: dict[str, list[str]] = collections.defaultdict(list)
            runs = 0
            for i, commands in enumerate(trips):
                for number, command in enumerate(commands, 1):
                    for kind in KINDS:
                        runs += 1
                        broken, _ = play(services, factory, options,
                                         (i, Fault(kind, number)))
                        for invariant in sorted(broken):
                            found[invariant].append(
                                f"{STEPS[i].kind}#{i + 1} {command}@{number} {kind}")
            print(f"{options}: {runs} faulted runs; without a fault: "
                  f"{', '.join(sorted(clean)) or 'holds'}")
            for invariant, where in found.items():
                print(f"  {invariant}: {len(where)} runs")
                for line in where:
                    print(f"    {line}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "rq")
