"""`queue-chaos nightly --budget DURATION`: a concurrent workload under a seeded nemesis, judged
after it drains, with a report in reports/<timestamp>/ (and reports/latest).

Exit 0 holds, 1 violation, 3 infrastructure; 130 when interrupted with nothing violated
(143 for SIGTERM: a CI cancel also gets its report).
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import UTC, datetime
from pathlib import Path

from harness.cli import (
    add_op_timeout_flag,
    add_services_flags,
    add_target_flag,
    at_least_one,
    non_negative,
    seconds_argument,
    services_config,
)
from harness.commands.job_queue_nightly import run_job_queue_nightly
from harness.commands.machine import is_job_queue_target
from harness.commands.report_directory import report_directory
from harness.databases import parse_database
from harness.errors import InfrastructureError, UsageError
from harness.invariants import Violation
from harness.nightly.artifacts import link_latest, write_artifacts
from harness.nightly.progress import progress_for
from harness.nightly.run import NightlyOptions, NightlyResult, NightlyRun
from harness.replication import replicated_services
from harness.servers.services import open_services
from harness.target import load_factory


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "nightly", help="long concurrent run under a fault schedule, with an HTML report",
        description="Producers and workers run against the target through Toxiproxy while a "
                    "nemesis opens fault windows drawn from the seed; then the network heals, "
                    "the queue drains, and the whole history and final state are judged. A "
                    "job-queue target (rq, dramatiq, or module:factory of "
                    "harness.job_queue_target) runs its library's producers and workers, then "
                    "its recovery, a drain and the judging of the final keys: --budget, "
                    "--seed, --out, --option, --producers, --workers, --no-nemesis, --quiet.",
        epilog="exit codes: 0 holds, 1 violation, 3 infrastructure, 130 interrupted "
               "(143 on SIGTERM)")
    parser.add_argument("--budget", required=True, type=seconds_argument,
                        help="how long the workload runs: 60s, 5m, 1h30m ...")
    add_target_flag(parser)
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="an option of a job-queue adapter (e.g. queues=2 for rq); "
                             "repeatable")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the night: the fault schedule, the workload and the state "
                             "machine's programs (default: drawn and printed)")
    parser.add_argument("--out", type=Path, default=None,
                        help="report directory (default: reports/<UTC timestamp>, with a "
                             "reports/latest link)")
    parser.add_argument("--database", metavar="URL",
                        help="also save the state machine's failures to (or, for github://, "
                             "replay them from) this example database: a folder, "
                             "redis://HOST:PORT/DB or github://OWNER/REPO[/ARTIFACT]; the run's "
                             "own folder keeps them either way")
    parser.add_argument("--pushgateway", metavar="URL",
                        help="also push the run's metrics to this Prometheus Pushgateway")
    parser.add_argument("--producers", type=at_least_one, default=3)
    parser.add_argument("--workers", type=at_least_one, default=3)
    parser.add_argument("--racers", type=non_negative, default=1,
                        help="threads that make two calls at once (a double submit, two "
                             "workers dequeuing together, a complete during requeue_expired; "
                             "default 1, 0: none)")
    parser.add_argument("--no-nemesis", dest="nemesis", action="store_false",
                        help="no faults (a baseline to compare throughput with)")
    parser.add_argument("--failover", action="store_true",
                        help="run on a primary with a replica (started here; local backend "
                             "only) and add failover windows to the schedule: the replication "
                             "link lags or is cut, then the replica is promoted")
    parser.add_argument("--no-machine", dest="machine", action="store_false",
                        help="skip the stateful machine after the workload")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    add_op_timeout_flag(parser)
    add_services_flags(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    if is_job_queue_target(args.target):
        return run_job_queue_nightly(args)
    if args.option:
        raise UsageError(f"--option is for a job-queue target (rq, dramatiq), not "
                         f"{args.target!r}")
    load_factory(args.target)  # a target that does not import fails before any server starts
    if args.database is not None:
        parse_database(args.database)  # a bad URL fails before anything starts
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    options = NightlyOptions(budget=args.budget, target=args.target, seed=seed,
                             producers=args.producers, workers=args.workers,
                             racers=args.racers,
                             nemesis=args.nemesis, failover=args.failover,
                             machine=args.machine,
                             database=args.database, op_timeout=args.op_timeout,
                             redis_server=args.redis_server)
    out, is_default = report_directory(args.out)
    progress = progress_for(options.budget, sys.stderr, quiet=args.quiet)
    progress.message(f"nightly: target {options.target}, seed {seed}, budget "
                     f"{options.budget:g} s -> {out}")
    config = services_config(args)
    result: NightlyResult | None = None
    try:
        opened = replicated_services(config) if options.failover else open_services(config)
        with opened as services:
            result = NightlyRun(options, services, out, progress).execute()
    except (InfrastructureError, KeyboardInterrupt) as exc:
        if result is None:  # the servers did not start, or a signal came first: a report
            out.mkdir(parents=True, exist_ok=True)
            result = NightlyResult(options, out, config.backend, datetime.now(UTC),
                                   finished_at=datetime.now(UTC))
            if isinstance(exc, KeyboardInterrupt):
                result.interrupt(exc)
            else:
                result.infrastructure = f"{type(exc).__name__}: {exc}"
    finally:
        progress.close()
    notes = write_artifacts(result, args.pushgateway)
    if is_default:
        link_latest(out)
    _print_summary(result, out, notes)
    return result.exit_code


def _print_summary(result: NightlyResult, out: Path, notes: list[str]) -> None:
    print(f"verdict: {result.status}")
    if result.versions:
        print(f"servers: {result.versions.get('redis_server', 'unknown')}, toxiproxy "
              f"{result.versions.get('toxiproxy', 'unknown')}")
    if result.infrastructure:
        print(f"infrastructure: {result.infrastructure}")
    else:
        by_invariant: dict[str, list[Violation]] = {}
        for violation in sorted(result.violations, key=lambda v: v.severity.rank):
            by_invariant.setdefault(violation.invariant, []).append(violation)
        for found in by_invariant.values():
            print(f"  {len(found):5d} x {found[0].describe()}")
    if result.summary:
        print("jobs: " + ", ".join(f"{k}={v}" for k, v in result.summary.items()
                                   if isinstance(v, int)))
    for note in notes:
        print(note)
    print(f"report: {out / 'report.html'}")
    print(f"replay: {result.options.replay_command()}")
