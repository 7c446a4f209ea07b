"""Bad input to `reproduce` and `gate`: one clear line on stderr, exit 2, no verdict printed."""

from __future__ import annotations

import sys
import textwrap

import pytest
from cli_runs import Run, assert_one_line_error, compose_flags, run_cli

from harness.errors import ExitCode

pytestmark = pytest.mark.servers

COMMANDS = {"reproduce": ("reproduce", "CRITICAL-1"), "gate": ("gate", "--no-machine")}


@pytest.fixture
def servers(qc_services) -> list[str]:
    return compose_flags(qc_services)


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """write(name, source): a module importable for this test only."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(name: str, source: str) -> str:
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        monkeypatch.delitem(sys.modules, name, raising=False)  # forgotten after the test
        return name

    yield write


def assert_usage_error(run: Run, *phrases: str) -> None:
    assert_one_line_error(run, ExitCode.USAGE, *phrases)


def test_an_unknown_scenario_id(servers):
    run = run_cli("reproduce", "CRITICAL-9", *servers)
    assert_usage_error(run, "unknown scenario 'CRITICAL-9'", "queue-chaos list")


@pytest.mark.parametrize("command", COMMANDS)
def test_a_target_that_is_not_module_colon_factory(servers, command):
    run = run_cli(*COMMANDS[command], "--target", "simple_queue", *servers)
    assert_usage_error(run, "bad target 'simple_queue'", "module:factory")


@pytest.mark.parametrize("command", COMMANDS)
def test_a_target_module_that_does_not_import(servers, command):
    run = run_cli(*COMMANDS[command], "--target", "qc_no_such_module:make_queue", *servers)
    assert_usage_error(run, "module 'qc_no_such_module' does not import", "PYTHONPATH")


def test_a_target_module_that_fails_while_importing(servers, user_module):
    name = user_module("qc_broken_module", "def make_queue(client, registry)\n")
    run = run_cli("reproduce", "CRITICAL-1", "--target", f"{name}:make_queue", *servers)
    assert_usage_error(run, f"module '{name}' does not import", "SyntaxError")


@pytest.mark.parametrize("command", COMMANDS)
def test_a_module_without_the_factory(servers, user_module, command):
    name = user_module("qc_without_factory", "MAKE_QUEUE = None\n")
    run = run_cli(*COMMANDS[command], "--target", f"{name}:make_queue", *servers)
    assert_usage_error(run, "has no callable 'make_queue'", "(redis_client, registry)")


@pytest.mark.parametrize("command", COMMANDS)
def test_a_factory_that_raises(servers, user_module, command):
    name = user_module("qc_raising_factory", """
        def make_queue(client, registry):
            raise RuntimeError("QUEUE_URL is not set")
    """)
    run = run_cli(*COMMANDS[command], "--target", f"{name}:make_queue", *servers)
    assert_usage_error(run, "the factory raised RuntimeError: QUEUE_URL is not set")


def test_a_factory_whose_error_spans_lines_still_gives_one_line(servers, user_module):
    name = user_module("qc_multiline_factory", """
        def make_queue(client, registry):
            raise RuntimeError("bad settings:\\n  QUEUE_URL is not set")
    """)
    run = run_cli("reproduce", "CRITICAL-1", "--target", f"{name}:make_queue", *servers)
    assert_usage_error(run, "the factory raised RuntimeError: bad settings:")


@pytest.mark.parametrize("command", COMMANDS)
def test_a_target_that_does_not_meet_the_contract(servers, user_module, command):
    name = user_module("qc_half_a_queue", """
        class HalfAQueue:
            def enqueue(self, workspace_id, payload, client_request_id):
                return "0" * 32

        def make_queue(client, registry):
            return HalfAQueue()
    """)
    run = run_cli(*COMMANDS[command], "--target", f"{name}:make_queue", *servers)
    assert_usage_error(run, "does not meet the target contract", "missing get_job",
                       "key_schema")


def test_a_bad_block_on(servers):
    run = run_cli("gate", "--no-machine", "--block-on", "CRITICAL,URGENT", *servers)
    assert_usage_error(run, "bad --block-on 'CRITICAL,URGENT'", "CRITICAL, HIGH, MEDIUM, LOW")


@pytest.mark.parametrize("option", ["--junit", "--json"])
def test_a_report_path_that_is_a_directory_fails_before_the_run(tmp_path, option):
    run = run_cli("gate", "--no-machine", option, str(tmp_path), "--backend", "compose",
                  "--redis-url", "redis://127.0.0.1:1/0")  # no server is ever reached
    assert_usage_error(run, f"cannot write a report to {tmp_path}: it is a directory")


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unknown_backend_flag(command):
    run = run_cli(*COMMANDS[command], "--backend", "kubernetes")
    assert_usage_error(run, "unknown backend 'kubernetes'", "local, compose, containers")


def test_an_unknown_backend_from_the_environment(monkeypatch):
    monkeypatch.setenv("QUEUE_CHAOS_BACKEND", "kubernetes")
    run = run_cli("reproduce", "CRITICAL-1")
    assert_usage_error(run, "unknown backend 'kubernetes'", "QUEUE_CHAOS_BACKEND")
