"""`queue-chaos machine`: the state machine alone, under a chosen profile.

The gate runs it under `gate`; the nightly run under `nightly`, keeping its example database
in the run's folder. `--profile repro --database reports/latest/hypothesis-db` replays and
shrinks what a night found, the next morning; `--database redis://...` or
`--database github://OWNER/REPO` replays it from where the night shared it (harness.databases).

A job-queue target (`--target rq`, `--target dramatiq`, or a module:factory of the generic
job-queue contract) runs the job-queue machine instead (harness.job_queue_machine), with
its adapter's options (`--option queues=2`); the target is resolved here, in the command
layer, as `reproduce` resolves a job-queue scenario's.
"""

from __future__ import annotations

import argparse
import inspect
from pathlib import Path
from typing import Any
from unittest import SkipTest

from harness.cli import (
    add_clients_flag,
    add_op_timeout_flag,
    add_services_flags,
    add_target_flag,
    at_least_one,
    services_config,
)
from harness.commands.job_queues import job_queue_aliases, load_job_queue_factory
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
from harness.job_queue_machine import (
    DEFAULT_EXAMPLES,
    DEFAULT_STEPS,
    JobQueueMachineSetup,
    job_queue_settings,
    run_job_queue_machine,
)
from harness.machine import (
    SHRINK_BUDGET,
    MachineResult,
    MachineSetup,
    replay_command,
    run_by_severity,
)
from harness.profiles import PROFILES, profile_settings
from harness.scheduler import DEFAULT_CLIENTS
from harness.servers.services import open_services
from harness.target import load_factory, target_aliases


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "machine", help="run the Hypothesis state machine alone",
        description="Run the state machine against a target under a profile (gate: "
                    "deterministic; nightly: random, with an example database; repro: "
                    "replay and shrink what a database holds). Exit 1 on a violation. A "
                    f"job-queue target ({', '.join(job_queue_aliases()) or 'rq, dramatiq'}, "
                    "or module:factory of harness.job_queue_target) runs the job-queue "
                    "machine: --examples, --steps, --seed, --shrink-budget, --option.")
    add_target_flag(parser)
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="an option of a job-queue adapter (e.g. queues=2 for rq); "
                             "repeatable")
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
    if is_job_queue_target(args.target):
        return run_job_queue(args)
    if args.option:
        raise UsageError(f"--option is for a job-queue target (rq, dramatiq), not "
                         f"{args.target!r}")
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
    code = _verdict(result, f"state machine ({args.profile}) on {args.target}", ran)
    if code == ExitCode.VIOLATION and args.profile == "nightly" and url is not None:
        print(f"replay: {replay_command(args.target, url.display(), args.clients)}")
    return code


def _verdict(result: MachineResult, label: str, ran: str,
             found_at: str = "") -> ExitCode:
    """What either machine prints last, and its exit code: the program and how far its
    shrinking got when an invariant broke; a non-replaying run's report when it held."""
    if result.holds:
        if result.flaky:
            print(result.report)
        print(f"{label}: every invariant held ({ran})")
        return ExitCode.HOLDS
    print(result.report)
    if result.shrinking:
        print(f"shrinking: {result.shrinking}")
    print(f"{label}: violated " + ", ".join(result.invariants_violated) + f" ({ran}{found_at})")
    return ExitCode.VIOLATION


def is_job_queue_target(target: str) -> bool:
    """A job-queue alias, or a module:factory whose factory takes the client alone (a
    dual-write factory takes the client and a Prometheus registry)."""
    if target in job_queue_aliases():
        return True
    if target in target_aliases() or ":" not in target or target.startswith("variant:"):
        return False
    try:
        signature = inspect.signature(load_factory(target))
    except (TypeError, ValueError):  # no signature to read: a dual-write target, as before
        return False
    return _binds(signature, 1) and not _binds(signature, 2)


def _binds(signature: inspect.Signature, positional: int) -> bool:
    try:
        signature.bind(*range(positional))
    except TypeError:
        return False
    return True


def adapter_options(pairs: list[str]) -> dict[str, Any]:
    """--option queues=2 --option unique=true -> {"queues": 2, "unique": True}."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--option {pair!r}: give KEY=VALUE (e.g. queues=2)")
        value: Any = text.strip()
        if value.lower() in ("true", "false"):
            value = value.lower() == "true"
        elif value.lstrip("-").isdigit():
            value = int(value)
        options[key.strip()] = value
    return options


def run_job_queue(args: argparse.Namespace) -> ExitCode:
    """The job-queue machine on a library's adapter: exit 1 with the shrunk program and
    the invariant it breaks, 0 when every invariant held."""
    for flag, given in (("--profile", args.profile != "gate"),
                        ("--database", args.database is not None),
                        ("--clients", args.clients != DEFAULT_CLIENTS)):
        if given:
            raise UsageError(f"{flag} is for the dual-write machine; a job-queue target "
                             "takes --examples, --steps, --seed, --shrink-budget, --option")
    options = adapter_options(args.option)
    factory = load_job_queue_factory(args.target)  # a missing library: exit 2, no server
    examples = args.examples or DEFAULT_EXAMPLES
    settings = job_queue_settings(examples, args.steps or DEFAULT_STEPS,
                                  derandomize=args.seed is None)
    budget = args.shrink_budget if args.shrink_budget is not None else SHRINK_BUDGET
    described = f"{args.target}" + (f" {options}" if options else "")
    with open_services(services_config(args)) as services, \
            progress_line(f"job-queue state machine on {described}"):
        setup = JobQueueMachineSetup(services, factory, args.target, options,
                                     op_timeout=args.op_timeout, shrink_budget=budget,
                                     on_first_failure=print_first_failure(budget))
        result = run_job_queue_machine(setup, settings, seed=args.seed)
    return _verdict(result, f"job-queue state machine on {described}",
                    f"{result.examples:,} examples run, {result.steps:,} steps",
                    f"; first found at example {result.first_failing_example}")
