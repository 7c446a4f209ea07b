"""`queue-chaos nightly --target rq`: a job-queue library's night, with its report.

The nightly command hands a job-queue target here (harness.commands.machine's
is_job_queue_target). What only the dual-write nightly does (--failover, --racers,
--database, ...) is refused before any server starts, as is a library that is not
installed; options the adapter refuses are refused once the servers are up, before anything
is written. Exit 0 holds, 1 a job broke a promise, 2 usage, 3 infrastructure (the servers or
Toxiproxy failed: no verdict), 130 interrupted (143 on SIGTERM).
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
from datetime import UTC, datetime
from typing import Any

from harness.cli import services_config
from harness.commands.job_queues import load_job_queue_factory
from harness.commands.machine import adapter_options
from harness.commands.report_directory import report_directory
from harness.errors import InfrastructureError, UsageError
from harness.nightly.artifacts import link_latest
from harness.nightly.job_queue_artifacts import write_job_queue_artifacts
from harness.nightly.job_queue_night import (
    JobQueueNight,
    JobQueueNightOptions,
    describe_adapter,
    run_night,
)
from harness.nightly.progress import progress_for
from harness.nightly.run import EXIT_INTERRUPTED
from harness.op_deadline import DEFAULT_OP_TIMEOUT
from harness.servers.services import open_services

# What only the dual-write nightly does: (flag, whether it was given).
DUAL_WRITE_ONLY = (
    ("--failover", lambda a: a.failover),
    ("--racers", lambda a: a.racers != 1),
    ("--database", lambda a: a.database is not None),
    ("--pushgateway", lambda a: a.pushgateway is not None),
    ("--no-machine", lambda a: not a.machine),
    ("--op-timeout", lambda a: a.op_timeout != DEFAULT_OP_TIMEOUT),
)


def refuse_dual_write_flags(args: argparse.Namespace) -> None:
    given = [flag for flag, was_given in DUAL_WRITE_ONLY if was_given(args)]
    if given:
        raise UsageError(f"{', '.join(given)}: for the dual-write nightly; a job-queue target "
                         "takes --budget, --seed, --out, --option, --producers, --workers, "
                         "--no-nemesis, --quiet")


def run_job_queue_nightly(args: argparse.Namespace) -> int:
    refuse_dual_write_flags(args)
    options = adapter_options(args.option)
    factory = load_job_queue_factory(args.target)  # a missing library: exit 2, no server
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    night_options = JobQueueNightOptions(
        budget=args.budget, target=args.target, seed=seed, options=options,
        producers=args.producers, workers=args.workers, nemesis=args.nemesis,
        redis_server=args.redis_server)
    out, is_default = report_directory(args.out)
    config = services_config(args)
    night = JobQueueNight(night_options, out, config.backend, datetime.now(UTC))
    progress = progress_for(args.budget, sys.stderr, quiet=args.quiet)
    # The library logs each fault it meets (rq: every abandoned job): thousands of lines
    # that would drown the progress; what they say is in the journal.
    logging.disable(logging.CRITICAL)
    try:
        with open_services(config) as services:
            night.adapter = describe_adapter(services, factory, args.target, options)
            out.mkdir(parents=True, exist_ok=True)  # from here on, a report is written
            progress.message(f"nightly: {night.adapter.library} ({args.target}"
                             f"{f' {options}' if options else ''}), seed {seed}, budget "
                             f"{args.budget:g} s -> {out}")
            run_night(night, services, factory, progress)
    except InfrastructureError as exc:
        night.infrastructure = f"{type(exc).__name__}: {exc}"
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM/SIGHUP (a processes.Terminated)
        night.interrupt_code = getattr(exc, "exit_code", EXIT_INTERRUPTED)
    finally:
        logging.disable(logging.NOTSET)
        progress.close()
    night.finished_at = datetime.now(UTC)
    out.mkdir(parents=True, exist_ok=True)
    journal = write_job_queue_artifacts(night)
    if is_default:
        link_latest(out)
    _print_summary(journal, out)
    return night.exit_code


def _print_summary(journal: dict[str, Any], out: Any) -> None:
    print(f"verdict: {journal['verdict']['status']} ({journal['run']['library']}, seed "
          f"{journal['run']['seed']})")
    print(journal["verdict"]["headline"])
    if journal["verdict"]["reason"]:
        print(f"reason: {journal['verdict']['reason']}")
    for name, count in sorted(journal["violations_by_invariant"].items()):
        first = next(v for v in journal["violations"] if v["invariant"] == name)
        print(f"  {count:5d} x {name}: {first['message']}")
    if journal["summary"]:
        print("jobs: " + ", ".join(f"{k}={v}" for k, v in journal["summary"].items())
              + "; at the end: " + ", ".join(f"{k}={v}" for k, v in
                                             journal["final_states"].items()))
    print(f"fault windows: {len(journal['faults']['applied'])}; operations: "
          f"{journal['operations']['total']:,}")
    print(f"report: {out / 'report.html'}")
    print(f"replay: {journal['run']['replay_command']}")
