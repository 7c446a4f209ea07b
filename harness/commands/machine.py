"""`queue-chaos machine`: the state machine alone, under a chosen profile.

The gate runs it under `gate`; the nightly run under `nightly`, keeping its example database
in the run's folder. `--profile repro --database reports/latest/hypothesis-db` replays and
shrinks what a night found, the next morning.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from unittest import SkipTest

from harness.cli import add_op_timeout_flag, add_services_flags, at_least_one, services_config
from harness.commands.progress import progress_line
from harness.errors import ExitCode, UsageError
from harness.files import check_directory
from harness.machine import MachineSetup, run_by_severity
from harness.profiles import PROFILES, profile_settings
from harness.services import open_services
from harness.target import load_factory


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "machine", help="run the Hypothesis state machine alone",
        description="Run the state machine against a target under a profile (gate: "
                    "deterministic; nightly: random, with an example database; repro: "
                    "replay and shrink what a database holds). Exit 1 on a violation.")
    parser.add_argument("--target", default="reference",
                        help="reference (default), phase1, pipeline-fix, variant:ID or "
                             "module:factory")
    parser.add_argument("--profile", choices=PROFILES, default="gate")
    parser.add_argument("--database", type=Path,
                        help="example database directory (nightly, repro)")
    parser.add_argument("--seed", type=int, help="seed for a non-derandomized profile")
    parser.add_argument("--examples", type=at_least_one,
                        help="examples (default: the profile's)")
    parser.add_argument("--steps", type=at_least_one,
                        help="steps per example (default: the profile's)")
    add_op_timeout_flag(parser)
    add_services_flags(parser)
    return parser


def check_database(profile: str, database: Path | None) -> None:
    """A database the profile uses, as a directory: refused now, not ignored later."""
    if database is None:
        if profile == "repro":
            raise UsageError("--profile repro replays an example database: give --database "
                             "DIR (e.g. reports/latest/hypothesis-db)")
        return
    if profile == "gate":
        raise UsageError(f"--database {database}: the gate profile keeps no database; it is "
                         "for --profile nightly or repro")
    check_directory(database, "--database")
    if profile == "repro" and not database.is_dir():
        raise UsageError(f"--database {database} does not exist: give the hypothesis-db of a "
                         "nightly run (e.g. reports/latest/hypothesis-db)")


def run(args: argparse.Namespace) -> ExitCode:
    load_factory(args.target)
    check_database(args.profile, args.database)
    settings = profile_settings(args.profile, database_dir=args.database,
                                max_examples=args.examples, step_count=args.steps)
    with open_services(services_config(args)) as services, \
            progress_line(f"state machine on {args.target} ({args.profile})"):
        try:
            result = run_by_severity(
                MachineSetup(services, args.target, op_timeout=args.op_timeout), settings,
                seed=args.seed)
        except SkipTest:  # Hypothesis had no example to run
            if args.profile != "repro":
                raise
            print(f"state machine (repro): nothing to replay in {args.database} (no failure "
                  "was saved there: the morning after a clean night)")
            return ExitCode.HOLDS
    if result.holds:
        print(f"state machine ({args.profile}) on {args.target}: every invariant held")
        return ExitCode.HOLDS
    print(result.report)
    print(f"state machine ({args.profile}) on {args.target}: violated "
          + ", ".join(result.invariants_violated))
    return ExitCode.VIOLATION
