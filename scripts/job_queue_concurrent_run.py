"""Repeat the concurrent job-queue run (harness.job_queue_nightly) and say what each found.

    .venv/bin/python scripts/job_queue_concurrent_run.py rq '{"queues": 2}' 10
    .venv/bin/python scripts/job_queue_concurrent_run.py dramatiq '{}' 10

Each run: 2 producers x 40 jobs, 2 workers, the fixed toxic schedule (about 2.3 s), then
recovery, a drain and the final judgement.
"""

from __future__ import annotations

import json
import logging
import sys

from harness.commands.job_queues import load_job_queue_factory
from harness.job_queue_nightly import run_concurrent
from harness.servers.services import open_services


def main(target: str, options: dict[str, object], runs: int) -> None:
    logging.disable(logging.ERROR)  # rq logs every abandoned job and every swallowed error
    factory = load_job_queue_factory(target)
    found = 0
    with open_services() as services:
        for i in range(runs):
            result = run_concurrent(services, factory, target, options=options)
            names = sorted({p.invariant for p in result.problems})
            found += bool(names)
            print(f"run {i}: {', '.join(names) or 'holds'} ({len(result.problems)} jobs; "
                  f"{result.seconds:.1f} s; {result.outcomes})", flush=True)
    print(f"{target} {options}: {found} of {runs} runs broke a promise")


if __name__ == "__main__":
    main(sys.argv[1], json.loads(sys.argv[2] if len(sys.argv) > 2 else "{}"),
         int(sys.argv[3]) if len(sys.argv) > 3 else 10)
