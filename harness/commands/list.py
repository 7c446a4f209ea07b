"""`queue-chaos list`: the scenarios, with id, severity and the invariant each breaks."""

from __future__ import annotations

import argparse

from harness.errors import ExitCode
from harness.textable import render_table
from scenarios import CATALOGUE, OPT_IN, job_queues


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    return subparsers.add_parser("list", help="list the scenarios",
                                 description="List every scenario: id, severity, invariant.")


def run(args: argparse.Namespace) -> ExitCode:
    for scenarios in (CATALOGUE, OPT_IN):
        if scenarios is OPT_IN:
            print("\nopt-in, not in the gate (reproduce starts a primary and a replica):")
        rows = [(s.id, str(s.severity), s.breaks, s.title, s.source.split(":")[0])
                for s in scenarios]
        print(render_table(("id", "severity", "invariant", "title", "from"), rows))
    print("\nqueue libraries' documented issues, under the generic job-queue contract "
          "(reproduce ID --target LIBRARY):")
    rows = [(s.id, str(s.severity), s.breaks, s.title, s.library)
            for s in job_queues.SCENARIOS]
    print(render_table(("id", "severity", "invariant", "title", "target"), rows))
    return ExitCode.HOLDS
