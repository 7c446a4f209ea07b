"""The GitHub workflows users copy: valid for actionlint, in step with the CLI, and their
JUnit summary step reads the reports the commands write.

They cannot run here (no GitHub runner), so they are checked three ways: actionlint (with
shellcheck on their scripts) when .bin/actionlint is installed, a YAML parse and a look at
what each job does, and their `queue-chaos` command lines parsed by the CLI's own parser.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli import build_parser
from harness.databases import GITHUB_ARTIFACT
from harness.nightly.run import HYPOTHESIS_DB
from harness.report.junit import JUnitCase, write_junit

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
GATE = WORKFLOWS / "queue-chaos-gate.yml"
NIGHTLY = WORKFLOWS / "queue-chaos-nightly.yml"
ONE_STEP = WORKFLOWS / "queue-chaos-action.yml"  # uses ./action.yml: actionlint checks both
ACTIONLINT = ROOT / ".bin" / "actionlint"
SUMMARY_SCRIPT = ROOT / "examples" / "ci" / "junit_summary.py"


def load(path: Path) -> dict[str, Any]:
    workflow = yaml.safe_load(path.read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads `on` as true
    return workflow


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return job["steps"]


def uses(job: dict[str, Any]) -> list[str]:
    return [step["uses"].split("@")[0] for step in steps(job) if "uses" in step]


def step_running(job: dict[str, Any], command: str) -> dict[str, Any]:
    return next(step for step in steps(job) if command in step.get("run", ""))


def expand(text: str, env: dict[str, str]) -> str:
    """$VAR and "$VAR" from the workflow's env; an expression's quoted fallback stands for it."""
    def value(raw: str) -> str:
        fallback = re.search(r"\|\|\s*'([^']*)'", raw)
        return fallback.group(1) if fallback else raw
    return re.sub(r"\$(\w+)", lambda m: value(env.get(m.group(1), m.group(0))), text)


def queue_chaos_argv(workflow: dict[str, Any], job: dict[str, Any]) -> list[str]:
    """The job's `queue-chaos ...` command line as the shell would pass it."""
    env = {**workflow.get("env", {}), **job.get("env", {})}
    run = step_running(job, "bin/queue-chaos ")["run"]
    argv = shlex.split(expand(run, env))
    return argv[next(i for i, a in enumerate(argv) if a.endswith("bin/queue-chaos")) + 1:]


@pytest.mark.skipif(not ACTIONLINT.exists(), reason=(
    "actionlint is not installed: GOBIN=$PWD/.bin go install "
    "github.com/rhysd/actionlint/cmd/actionlint@v1.7.12"))
def test_actionlint_finds_nothing_to_report():
    done = subprocess.run([ACTIONLINT, "-no-color", GATE, NIGHTLY, ONE_STEP], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    if shutil.which("shellcheck") is None:
        pytest.skip("actionlint passed, but without shellcheck it did not check the scripts")


@pytest.mark.parametrize("path", [GATE, NIGHTLY, ONE_STEP], ids=lambda p: p.name)
def test_a_workflow_is_yaml_with_jobs_that_each_have_steps(path):
    workflow = load(path)
    assert workflow["name"].startswith("queue-chaos")
    assert workflow["permissions"] == {"contents": "read"}
    for job in workflow["jobs"].values():
        assert job["runs-on"] == "ubuntu-latest"
        assert job["timeout-minutes"] > 0
        assert uses(job)[0] == "actions/checkout"


def test_the_gate_runs_on_pull_requests_and_uploads_its_reports_whatever_the_verdict():
    workflow = load(GATE)
    assert "pull_request" in workflow["on"]
    job = workflow["jobs"]["gate"]
    assert uses(job) == ["actions/checkout", "actions/setup-python", "actions/setup-go",
                         "actions/cache", "actions/upload-artifact"]
    assert step_running(job, "make setup")
    upload = next(s for s in steps(job) if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "${{ !cancelled() }}"
    assert upload["with"]["path"] == "${{ env.REPORTS }}"


def test_the_gate_command_line_is_one_the_cli_accepts_with_both_reports():
    workflow = load(GATE)
    job = workflow["jobs"]["gate"]
    args = build_parser().parse_args(queue_chaos_argv(workflow, job))
    assert args.command == "gate"
    assert args.target == "reference"
    assert str(args.junit) == "reports/gate/junit.xml"
    assert str(args.json) == "reports/gate/summary.json"
    assert not args.no_machine  # the state machine runs in the gate


def test_the_one_step_workflow_is_checkout_then_the_action_with_a_target():
    job = load(ONE_STEP)["jobs"]["gate"]
    assert uses(job) == ["actions/checkout", "./"]
    action_inputs = yaml.safe_load((ROOT / "action.yml").read_text())["inputs"]
    given = steps(job)[1]["with"]
    assert given["target"] == "reference"
    assert set(given) <= set(action_inputs)


def test_the_nightly_runs_on_a_schedule_and_by_hand():
    workflow = load(NIGHTLY)
    assert workflow["on"]["schedule"][0]["cron"]
    assert workflow["on"]["workflow_dispatch"]["inputs"]["budget"]["default"] == "30m"


@pytest.mark.parametrize("job_name", ["nightly", "nightly-compose"])
def test_the_nightly_command_line_is_one_the_cli_accepts(job_name):
    workflow = load(NIGHTLY)
    args = build_parser().parse_args(queue_chaos_argv(workflow, workflow["jobs"][job_name]))
    assert args.command == "nightly"
    assert args.budget == 30 * 60  # seconds
    assert str(args.out) == "reports/nightly"


def test_the_nightly_uploads_its_example_database_as_the_artifact_github_urls_read():
    job = load(NIGHTLY)["jobs"]["nightly"]
    upload = next(s for s in steps(job) if s.get("name") == "Upload the example database")
    assert upload["with"]["name"] == GITHUB_ARTIFACT
    assert upload["with"]["path"] == "${{ env.REPORTS }}/" + HYPOTHESIS_DB
    assert upload["if"] == "${{ !cancelled() }}"


def test_the_compose_job_points_the_harness_at_its_service_containers():
    job = load(NIGHTLY)["jobs"]["nightly-compose"]
    env = job["env"]
    assert env["QUEUE_CHAOS_BACKEND"] == "compose"
    assert env["QUEUE_CHAOS_ALLOW_FLUSH"] == "1"  # else the harness refuses to empty Redis
    assert env["QUEUE_CHAOS_PROXY_UPSTREAM"] == "redis:6379"  # the service's name
    assert set(job["services"]) == {"redis", "toxiproxy"}
    published = {str(p).split(":")[0] for s in job["services"].values() for p in s["ports"]}
    ports = {env["QUEUE_CHAOS_REDIS_URL"].rsplit(":", 1)[1].split("/")[0],
             env["QUEUE_CHAOS_TOXIPROXY_URL"].rsplit(":", 1)[1],
             env["QUEUE_CHAOS_PROXY_LISTEN"].rsplit(":", 1)[1]}
    assert ports <= published


# --- the JUnit summary step --------------------------------------------------------------------


@pytest.fixture(scope="module")
def summary():
    spec = importlib.util.spec_from_file_location("junit_summary", SUMMARY_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.summary


def test_every_summary_step_runs_the_script_on_the_junit_file_the_job_writes():
    for path in (GATE, NIGHTLY):
        for job in load(path)["jobs"].values():
            step = step_running(job, "junit_summary.py")
            assert step["if"] == "${{ !cancelled() }}"
            assert '"$REPORTS/junit.xml" >> "$GITHUB_STEP_SUMMARY"' in step["run"]


def test_the_summary_lists_each_failed_case_with_its_message(tmp_path, summary):
    report = write_junit(tmp_path / "junit.xml", "queue-chaos gate (phase1)", [
        JUnitCase("CRITICAL-1 no_lost_jobs", "gate", passed=False,
                  message="CRITICAL: no_lost_jobs | no_orphan_keys violated", details="..."),
        JUnitCase("MEDIUM-5 list_jobs_complete", "gate", passed=True),
        JUnitCase("STATEFUL/contract contract", "gate", passed=True, skipped=True,
                  message="not judged"),
    ])
    text = summary(report)
    assert text.splitlines()[0] == "### queue-chaos gate (phase1): FAIL"
    assert "3 cases, 1 failed, 1 skipped" in text
    assert ("| CRITICAL-1 no_lost_jobs | CRITICAL: no_lost_jobs \\| no_orphan_keys violated |"
            in text)
    assert "MEDIUM-5" not in text


def test_the_summary_of_a_passing_run_says_pass(tmp_path, summary):
    report = write_junit(tmp_path / "junit.xml", "queue-chaos nightly",
                         [JUnitCase("no_lost_jobs", "nightly", passed=True)])
    assert summary(report).startswith("### queue-chaos nightly: PASS")


def test_the_summary_of_a_missing_report_says_so_instead_of_failing(tmp_path, summary):
    assert "No JUnit report" in summary(tmp_path / "junit.xml")
