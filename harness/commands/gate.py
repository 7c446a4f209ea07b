"""`queue-chaos gate`: every scenario plus the state machine; fails on blocking findings."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli import add_op_timeout_flag, add_services_flags, at_least_one, services_config
from harness.commands.progress import progress_line
from harness.errors import ExitCode, UsageError
from harness.files import check_report_file
from harness.gate import DEFAULT_BLOCKING, GateReport, run_gate
from harness.invariants import Severity
from harness.profiles import profile_settings
from harness.report.junit import JUnitCase, write_junit
from harness.services import open_services
from harness.target import load_factory
from harness.textable import render_table
from scenarios import CATALOGUE


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "gate", help="all scenarios + the state machine: the CI gate",
        description="Run every scenario and the state machine (gate profile: deterministic) "
                    "against a target; exit 1 if a blocking finding is violated.")
    parser.add_argument("--target", default="reference",
                        help="reference (default), phase1, pipeline-fix or module:factory")
    parser.add_argument("--block-on", default=",".join(sorted(s.value for s in DEFAULT_BLOCKING)),
                        help="severities that fail the gate (default CRITICAL,HIGH)")
    parser.add_argument("--junit", type=Path, help="write JUnit XML here")
    parser.add_argument("--json", type=Path, help="write a JSON summary here")
    parser.add_argument("--examples", type=at_least_one,
                        help="state machine examples (default: profile)")
    parser.add_argument("--steps", type=at_least_one, help="steps per example (default: profile)")
    parser.add_argument("--no-machine", action="store_true", help="scenarios only")
    add_op_timeout_flag(parser)
    add_services_flags(parser)
    return parser


def blocking_severities(text: str) -> frozenset[Severity]:
    try:
        return frozenset(Severity(part.strip().upper()) for part in text.split(",") if part)
    except ValueError as exc:
        names = ", ".join(s.value for s in Severity)
        raise UsageError(f"bad --block-on {text!r}: a comma list of {names}") from exc


def print_report(report: GateReport) -> None:
    rows = [(r.id, r.severity, r.invariant,
             r.result.upper() + (" (" + ", ".join(v for v in r.violated if v != r.invariant)
                                 + ")" if set(r.violated) - {r.invariant} else ""),
             "BLOCKS" if r.blocking else "")
            for r in report.rows]
    print(f"queue-chaos gate: target {report.target}")
    print(render_table(("id", "severity", "invariant", "result", ""), rows))
    print()
    for row in report.blocked:
        if row.trace:
            print(row.trace)
            print()
    if report.machine_report and report.blocked:
        print("state machine (minimal failing programs):")
        print(report.machine_report)
        print()
    not_run = [r.id for r in report.rows if r.result == "not run"]
    if not_run:
        print(f"an operation hung: the gate stopped there ({len(not_run)} rows not run)")
    verdict = ("PASS" if report.passed else
               f"FAIL: {len(report.blocked)} blocking finding(s): "
               + ", ".join(r.id for r in report.blocked))
    print(f"verdict: {verdict} (blocking: {', '.join(report.blocking_severities)})")


def write_junit_report(report: GateReport, path: Path) -> None:
    cases = [JUnitCase(name=f"{r.id} {r.invariant}", classname=f"queue_chaos.gate.{report.target}",
                       passed=r.result != "violated" or not r.blocking,
                       skipped=r.result == "not run",
                       message=f"{r.severity}: {', '.join(r.violated)} violated" if r.violated
                       else "", details=r.trace, seconds=r.seconds)
             for r in report.rows]
    write_junit(path, f"queue-chaos gate ({report.target})", cases)


def run(args: argparse.Namespace) -> ExitCode:
    blocking = blocking_severities(args.block_on)
    load_factory(args.target)
    for path in (args.junit, args.json):
        if path is not None:
            check_report_file(path)  # before any server starts
    settings = None if args.no_machine else profile_settings(
        "gate", max_examples=args.examples, step_count=args.steps)
    with open_services(services_config(args)) as services, \
            progress_line(f"gate on {args.target}") as update:
        report = run_gate(services, args.target, CATALOGUE, settings, blocking=blocking,
                          on_progress=update, op_timeout=args.op_timeout)
    if args.junit:  # the files first: a report that cannot be written leaves no verdict
        write_junit_report(report, args.junit)
    if args.json:
        report.write_json(args.json)
    print_report(report)
    return ExitCode.HOLDS if report.passed else ExitCode.VIOLATION
