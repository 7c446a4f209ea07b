"""`queue-chaos gate`: every scenario plus the state machine; fails on blocking findings."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli import (
    add_clients_flag,
    add_op_timeout_flag,
    add_services_flags,
    add_sweep_flag,
    add_target_flag,
    at_least_one,
    services_config,
)
from harness.commands.progress import print_first_failure, progress_line
from harness.errors import ExitCode
from harness.files import check_report_file
from harness.gate import (
    DEFAULT_BLOCKING,
    NOT_SEARCHED,
    GateReport,
    parse_blocking,
    render_report,
    run_gate,
)
from harness.machine import SHRINK_BUDGET
from harness.profiles import profile_settings
from harness.report.junit import JUnitCase, write_junit
from harness.scenario import NOT_CHECKED
from harness.servers.services import open_services
from harness.target import load_factory
from harness.undeclared import warning
from scenarios import CATALOGUE


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "gate", help="all scenarios + the state machine: the CI gate",
        description="Run every scenario and the state machine (gate profile: deterministic) "
                    "against a target; exit 1 if a blocking finding is violated.")
    add_target_flag(parser)
    parser.add_argument("--block-on", default=",".join(sorted(s.value for s in DEFAULT_BLOCKING)),
                        help="severities that fail the gate (default CRITICAL,HIGH)")
    parser.add_argument("--junit", type=Path, help="write JUnit XML here")
    parser.add_argument("--json", type=Path, help="write a JSON summary here")
    parser.add_argument("--examples", type=at_least_one,
                        help="state machine examples (default: profile)")
    parser.add_argument("--steps", type=at_least_one, help="steps per example (default: profile)")
    parser.add_argument("--no-machine", action="store_true", help="scenarios only")
    parser.add_argument("--every-severity", action="store_true",
                        help="after a blocking violation, go on searching each severity for "
                             "its own counterexample (one more machine run per severity; "
                             "by default those rows say \"not searched\")")
    parser.add_argument("--shrink-budget", type=float, default=SHRINK_BUDGET, metavar="SECONDS",
                        help="seconds of shrinking per pass of the state machine (default "
                             f"{SHRINK_BUDGET:g}); the first failing program is printed as "
                             "soon as it is found, the verdict does not depend on it")
    add_sweep_flag(parser)
    add_op_timeout_flag(parser)
    add_clients_flag(parser)
    add_services_flags(parser)
    return parser


def print_report(report: GateReport) -> None:
    print(render_report(report))


def junit_cases(report: GateReport) -> list[JUnitCase]:
    """A case per row ("not checked" rows are skipped, with why), and a skipped case naming
    the keys outside the target's schema when there are any."""
    classname = f"queue_chaos.gate.{report.target}"
    cases = [JUnitCase(name=f"{r.id} {r.invariant}", classname=classname,
                       passed=r.result != "violated" or not r.blocking,
                       message=(f"{r.severity}: {', '.join(r.violated)} violated" if r.violated
                                else f"{r.result}: {r.note}" if r.result in (NOT_CHECKED,
                                                                             NOT_SEARCHED)
                                else ""),
                       details=r.trace, seconds=r.seconds,
                       skipped=r.result in (NOT_CHECKED, NOT_SEARCHED, "not run"))
             for r in report.rows]
    if report.undeclared_keys:
        cases.append(JUnitCase(name="undeclared keys", classname=classname, passed=True,
                               skipped=True, message=warning(report.undeclared_keys)))
    return cases


def write_junit_report(report: GateReport, path: Path) -> None:
    write_junit(path, f"queue-chaos gate ({report.target} on {report.server})",
                junit_cases(report))


def run(args: argparse.Namespace) -> ExitCode:
    blocking = parse_blocking(args.block_on)
    load_factory(args.target)
    for path in (args.junit, args.json):
        if path is not None:
            check_report_file(path)  # before any server starts
    settings = None if args.no_machine else profile_settings(
        "gate", max_examples=args.examples, step_count=args.steps)
    with open_services(services_config(args)) as services, \
            progress_line(f"gate on {args.target}") as update:
        report = run_gate(services, args.target, CATALOGUE, settings, blocking=blocking,
                          on_progress=update, shrink_budget=args.shrink_budget,
                          on_first_failure=print_first_failure(args.shrink_budget),
                          op_timeout=args.op_timeout, clients=args.clients,
                          every_severity=args.every_severity, sweep=not args.no_sweep)
    if args.junit:  # the files first: a report that cannot be written leaves no verdict
        write_junit_report(report, args.junit)
    if args.json:
        report.write_json(args.json)
    print_report(report)
    return ExitCode.HOLDS if report.passed else ExitCode.VIOLATION
