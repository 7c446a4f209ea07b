"""`queue-chaos reproduce ID`: run one finding's scenario for real and print its trace.

Exit 1 when the scenario's invariants are violated on the target, 0 when they hold. A
scenario of a queue library's documented issue (RQ-1716) runs on that library's adapter
(`--target rq`, its default) under the generic job-queue contract.
"""

from __future__ import annotations

import argparse

from harness.cli import add_op_timeout_flag, add_services_flags, add_target_flag, services_config
from harness.commands.job_queues import job_queue_aliases, load_job_queue_factory
from harness.commands.progress import progress_line
from harness.errors import ExitCode, UsageError
from harness.job_queue_run import run_job_queue_scenario
from harness.replication import replicated_services
from harness.scenario import run_scenario
from harness.servers.services import open_services
from harness.target import load_factory
from harness.undeclared import warning
from scenarios import job_queues, select
from scenarios.failover import needs_replicas


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "reproduce", help="run one scenario by id and print its trace",
        description="Run a scenario (e.g. CRITICAL-1, or MEDIUM-4 for its group) against a "
                    "target on real servers; exit 1 if it shows the violation, 0 if it holds. "
                    "A queue library's issue (RQ-1716) runs on that library's adapter "
                    "(--target rq, its default).")
    parser.add_argument("id", help="scenario id (see 'queue-chaos list')")
    add_target_flag(parser, "phase1")
    parser.set_defaults(target=None)  # phase1, or a job-queue scenario's own library
    add_op_timeout_flag(parser)
    add_services_flags(parser)
    return parser


def run(args: argparse.Namespace) -> ExitCode:
    if args.id in job_queues.BY_ID:
        return run_job_queue(args)
    args.target = args.target or "phase1"
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


def run_job_queue(args: argparse.Namespace) -> ExitCode:
    """A queue library's issue on its adapter: exit 1 with the trace when it shows."""
    scenario = job_queues.select(args.id)
    target = args.target or scenario.library
    if target not in job_queue_aliases() and ":" not in target:
        raise UsageError(f"{scenario.id} runs on a job-queue target, not {target!r}: "
                         f"--target {scenario.library} (its library), another of "
                         f"{', '.join(job_queue_aliases())}, or module:factory")
    factory = load_job_queue_factory(target)  # a missing library fails before any server
    with open_services(services_config(args)) as services, \
            progress_line(f"reproducing on {target}") as update:
        update(scenario.id)
        # The scenario's options (rq's queue count) are its library's; another library
        # plays the same steps with its defaults (a fault aimed at LPOP may find no aim).
        options = scenario.options if target == scenario.library else {}
        result = run_job_queue_scenario(scenario, services, factory, target, options=options,
                                        op_timeout=args.op_timeout)
    print(result.trace)
    print()
    return ExitCode.VIOLATION if result.violated else ExitCode.HOLDS
