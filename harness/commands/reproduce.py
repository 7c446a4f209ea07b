"""`queue-chaos reproduce ID`: run one finding's scenario for real and print its trace.

Exit 1 when the scenario's invariants are violated on the target, 0 when they hold.
"""

from __future__ import annotations

import argparse

from harness.cli import add_op_timeout_flag, add_services_flags, add_target_flag, services_config
from harness.commands.progress import progress_line
from harness.errors import ExitCode
from harness.replication import replicated_services
from harness.scenario import run_scenario
from harness.services import open_services
from harness.target import load_factory
from harness.undeclared import warning
from scenarios import select
from scenarios.failover import needs_replicas


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "reproduce", help="run one scenario by id and print its trace",
        description="Run a scenario (e.g. CRITICAL-1, or MEDIUM-4 for its group) against a "
                    "target on real servers; exit 1 if it shows the violation, 0 if it holds.")
    parser.add_argument("id", help="scenario id (see 'queue-chaos list')")
    add_target_flag(parser, "phase1")
    add_op_timeout_flag(parser)
    add_services_flags(parser)
    return parser


def run(args: argparse.Namespace) -> ExitCode:
    scenarios = select(args.id)
    load_factory(args.target)  # a target that does not import fails before any server starts
    violated = False
    undeclared: set[str] = set()
    # A failover scenario needs a primary and a replica: the replicated local backend.
    opened = replicated_services if any(map(needs_replicas, scenarios)) else open_services
    with opened(services_config(args)) as services, \
            progress_line(f"reproducing on {args.target}") as update:
        for scenario in scenarios:
            update(scenario.id)
            result = run_scenario(scenario, services, args.target, args.op_timeout)
            print(result.trace)
            print()
            violated = violated or result.violated
            undeclared.update(result.undeclared_keys)
            if result.hung:
                break  # the next scenario would wait the whole limit again
    if undeclared:
        print(warning(undeclared))
    return ExitCode.VIOLATION if violated else ExitCode.HOLDS
