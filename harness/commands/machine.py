"""`queue-chaos machine`: the state machine alone, under a chosen profile.

The gate runs it under `gate`; the nightly run under `nightly`, keeping its example database
in the run's folder. `--profile repro --database reports/latest/hypothesis-db` replays and
shrinks what a night found, the next morning; `--database redis://...` or
`--database github://OWNER/REPO` replays it from where the night shared it (harness.databases).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from unittest import SkipTest

from harness.cli import (
    add_clients_flag,
    add_op_timeout_flag,
    add_services_flags,
    add_target_flag,
    at_least_one,
    services_config,
)
from harness.commands.progress import print_first_failure, progress_line
from harness.databases import (
    GITHUB_ARTIFACT,
    DatabaseURL,
    open_database,
    parse_database,
    refuse_redis_under_test,
)
from harness.errors import ExitCode, UsageError
from harness.files import check_directory
from harness.machine import SHRINK_BUDGET, MachineSetup, run_by_severity
from harness.profiles import PROFILES, profile_settings
from harness.servers.services import open_services
from harness.target import load_factory


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "machine", help="run the Hypothesis state machine alone",
        description="Run the state machine against a target under a profile (gate: "
                    "deterministic; nightly: random, with an example database; repro: "
                    "replay and shrink what a database holds). Exit 1 on a violation.")
    add_target_flag(parser)
    parser.add_argument("--profile", choices=PROFILES, default="gate")
    parser.add_argument("--database", metavar="URL",
                        help="example database (nightly, repro): a folder, "
                             "redis://HOST:PORT/DB, or github://OWNER/REPO[/ARTIFACT] "
                             f"(read-only; default artifact {GITHUB_ARTIFACT})")
    parser.add_argument("--seed", type=int, help="seed for a non-derandomized profile")
    parser.add_argument("--examples", type=at_least_one,
                        help="examples (default: the profile's)")
    parser.add_argument("--steps", type=at_least_one,
                        help="steps per example (default: the profile's)")
    parser.add_argument("--shrink-budget", type=float, metavar="SECONDS",
                        help=f"seconds of shrinking per pass (default {SHRINK_BUDGET:g}; the "
                             "repro profile: Hypothesis's own 300)")
    add_op_timeout_flag(parser)
    add_clients_flag(parser)
    add_services_flags(parser)
    return parser


def check_database(profile: str, url: DatabaseURL | None) -> None:
    """A database the profile uses, checked now: refused at once, not ignored later."""
    if url is None:
        if profile == "repro":
            raise UsageError("--profile repro replays an example database: give --database DIR "
                             "(e.g. reports/latest/hypothesis-db), redis://... or github://...")
        return
    if profile == "gate":
        raise UsageError(f"--database {url.display()}: the gate profile keeps no database; it "
                         "is for --profile nightly or repro")
    if url.kind == "directory":
        folder = Path(url.location)
        check_directory(folder, "--database")
        if profile == "repro" and not folder.is_dir():
            raise UsageError(f"--database {folder} does not exist: give the hypothesis-db of "
                             "a nightly run (e.g. reports/latest/hypothesis-db)")


def run(args: argparse.Namespace) -> ExitCode:
    load_factory(args.target)
    url = parse_database(args.database) if args.database is not None else None
    check_database(args.profile, url)
    database = open_database(url) if url is not None else None
    settings = profile_settings(args.profile, database_dir=database,
                                max_examples=args.examples, step_count=args.steps)
    with open_services(services_config(args)) as services, \
            progress_line(f"state machine on {args.target} ({args.profile})"):
        refuse_redis_under_test(url, services.redis.host, services.redis.port)
        budget = (args.shrink_budget if args.shrink_budget is not None
                  else None if args.profile == "repro" else SHRINK_BUDGET)
        setup = MachineSetup(services, args.target, shrink_budget=budget,
                             on_first_failure=print_first_failure(budget or 300),
                             op_timeout=args.op_timeout, clients=args.clients)
        try:
            result = run_by_severity(setup, settings, seed=args.seed)
        except SkipTest:  # Hypothesis had no example to run
            if args.profile != "repro" or url is None:
                raise
            print(f"state machine (repro): nothing to replay in {url.display()} (no failure "
                  "was saved there: the morning after a clean night)")
            return ExitCode.HOLDS
    ran = (f"{result.examples:,} examples run, {result.steps:,} steps"
           + (" (shrinking included)" if result.shrinking in ("finished",)
              or result.shrinking.startswith("stopped") else ""))
    if result.holds:
        if result.flaky:
            print(result.report)
        print(f"state machine ({args.profile}) on {args.target}: every invariant held ({ran})")
        return ExitCode.HOLDS
    print(result.report)
    if result.shrinking:
        print(f"shrinking: {result.shrinking}")
    print(f"state machine ({args.profile}) on {args.target}: violated "
          + ", ".join(result.invariants_violated) + f" ({ran})")
    return ExitCode.VIOLATION
