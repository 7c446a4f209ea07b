"""`queue-chaos list`: the scenarios, with id, severity and the invariant each breaks."""

from __future__ import annotations

import argparse

from harness.errors import ExitCode
from harness.textable import render_table
from scenarios import CATALOGUE


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    return subparsers.add_parser("list", help="list the scenarios",
                                 description="List every scenario: id, severity, invariant.")


def run(args: argparse.Namespace) -> ExitCode:
    rows = [(s.id, str(s.severity), s.breaks, s.title, s.source.split(":")[0])
            for s in CATALOGUE]
    print(render_table(("id", "severity", "invariant", "title", "from"), rows))
    return ExitCode.HOLDS
