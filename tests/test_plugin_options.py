"""The plugin's options, ini settings and markers, seen from a project's own pytest run."""

from __future__ import annotations

import pytest

pytest_plugins = ("pytester",)

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1: refused at once

ONE_PLAIN_ONE_SERVER_TEST = """
def test_plain():
    pass

def test_with_redis(qc_redis):
    pass
"""


@pytest.fixture
def unreachable_compose(monkeypatch):
    """Compose settings that point at no server: any test that starts servers errors."""
    monkeypatch.delenv("QUEUE_CHAOS_BACKEND", raising=False)
    monkeypatch.setenv("QUEUE_CHAOS_REDIS_URL", UNREACHABLE_REDIS)


def test_servers_start_only_for_the_tests_that_ask_for_them(pytester, unreachable_compose):
    pytester.makepyfile(ONE_PLAIN_ONE_SERVER_TEST)
    result = pytester.runpytest("--qc-backend", "compose")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([f"*queue-chaos: cannot reach Redis at {UNREACHABLE_REDIS}*"])


def test_not_queue_chaos_deselects_every_test_that_needs_the_servers(pytester,
                                                                      unreachable_compose):
    pytester.makepyfile(ONE_PLAIN_ONE_SERVER_TEST)
    result = pytester.runpytest("--qc-backend", "compose", "-m", "not queue_chaos")
    result.assert_outcomes(passed=1, deselected=1)


def test_the_ini_backend_is_used_when_no_flag_or_variable_names_one(pytester,
                                                                    unreachable_compose):
    pytester.makeini("[pytest]\nqc_backend = compose\n")
    pytester.makepyfile(ONE_PLAIN_ONE_SERVER_TEST)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*cannot reach Redis*"])


def test_the_environment_variable_beats_the_ini_backend(pytester, unreachable_compose,
                                                        monkeypatch):
    monkeypatch.setenv("QUEUE_CHAOS_BACKEND", "local")
    pytester.makeini("[pytest]\nqc_backend = compose\n")
    pytester.makepyfile(ONE_PLAIN_ONE_SERVER_TEST)
    pytester.runpytest().assert_outcomes(passed=2)


def test_an_unknown_ini_backend_is_one_clear_error(pytester, monkeypatch):
    monkeypatch.delenv("QUEUE_CHAOS_BACKEND", raising=False)
    pytester.makeini("[pytest]\nqc_backend = kubernetes\n")
    pytester.makepyfile(ONE_PLAIN_ONE_SERVER_TEST)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*queue-chaos: unknown backend 'kubernetes'*"])


def test_the_markers_are_registered_for_strict_markers(pytester):
    pytester.makepyfile("""
        import pytest

        @pytest.mark.qc_target("reference")
        def test_marked():
            pass
    """)
    pytester.runpytest("--strict-markers").assert_outcomes(passed=1)
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.queue_chaos:*", "@pytest.mark.qc_target(spec):*"])


def test_the_options_are_in_the_help(pytester):
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["queue-chaos:*", "*--qc-backend*", "*--qc-profile*",
                                 "*--qc-examples*", "*--qc-target*"])


def test_qc_injector_removes_every_toxic_after_its_test(pytester, monkeypatch):
    monkeypatch.delenv("QUEUE_CHAOS_BACKEND", raising=False)
    pytester.makepyfile("""
        from harness.toxiproxy import Toxic

        def test_leaves_a_toxic(qc_injector):
            qc_injector.control.add_toxic(qc_injector.proxy_name, Toxic(
                "left-behind", "latency", attributes={"latency": 1000}))

        def test_finds_none(qc_services):
            assert qc_services.control.toxics(qc_services.proxy_name) == []
    """)
    pytester.runpytest().assert_outcomes(passed=2)


def test_profile_and_examples_options_shape_the_machine_settings(pytester):
    pytester.makepyfile("""
        from harness.pytest_plugin import machine_settings

        def test_settings(pytestconfig):
            chosen = machine_settings(pytestconfig, None, None, None)
            assert chosen.max_examples == 3
            assert not chosen.derandomize  # the nightly profile explores
            assert chosen.database is not None  # kept under pytest's cache: replays next run

        def test_an_argument_beats_the_option(pytestconfig):
            assert machine_settings(pytestconfig, "gate", 7, None).max_examples == 7
    """)
    pytester.runpytest("--qc-profile", "nightly", "--qc-examples", "3").assert_outcomes(passed=2)
