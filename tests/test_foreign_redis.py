"""A Redis that is not ours (the compose backend): refused unless --allow-flush, and then only
the database the URL names is touched: selected, emptied with FLUSHDB after a warning that
counts its keys, and emptied again at the end. Toxiproxy's proxies are left as they were.

"Someone else's" servers here are a private local pair, driven as the compose backend.
"""

from __future__ import annotations

import contextlib

import pytest
from cli_runs import Run, assert_one_line_error, run_cli

from harness.errors import ExitCode
from harness.servers.config import ServicesConfig
from harness.servers.ports import LOOPBACK, free_port
from harness.servers.services import Services, local_services

pytestmark = pytest.mark.servers

THEIRS = {0: {"user:1": "alice"}, 1: {"session:9": "open"}, 3: {"left:over": "x"}}


@pytest.fixture
def foreign():
    """A Redis holding keys in databases 0, 1 and 3, and a Toxiproxy with no proxy of ours."""
    with local_services(ServicesConfig(proxy_name="setup")) as services:
        services.control.delete_proxy("setup")
        for db, keys in THEIRS.items():
            with contextlib.closing(services.direct_client(db=db)) as client:
                client.mset(keys)
        yield services


def keys_in(services: Services, db: int) -> dict[str, str]:
    with contextlib.closing(services.direct_client(db=db)) as client:
        return {key: client.get(key) for key in client.keys("*")}


def on(services: Services, db: int, *args: str, listen: str | None = None) -> Run:
    return run_cli(*args, "--backend", "compose", "--redis-url", f"redis://{services.redis}/{db}",
                   "--toxiproxy-url", services.control.url,
                   "--proxy-listen", listen or f"{LOOPBACK}:{free_port()}",
                   "--proxy-upstream", str(services.redis))


def test_allow_flush_touches_only_the_database_the_url_names_and_leaves_it_empty(foreign):
    run = on(foreign, 3, "reproduce", "CRITICAL-1", "--target", "reference", "--allow-flush")
    assert run.code == ExitCode.HOLDS, run.out + run.err  # the target wrote where we read
    assert keys_in(foreign, 0) == THEIRS[0] and keys_in(foreign, 1) == THEIRS[1]
    assert keys_in(foreign, 3) == {}  # what it held (after the warning), and our own keys
    assert run.err.splitlines()[0] == (f"queue-chaos: warning: emptying database 3 of Redis at "
                                       f"{foreign.redis}: 1 keys (--allow-flush)")


def test_a_proxy_the_harness_created_is_removed_at_the_end(foreign):
    run = on(foreign, 3, "reproduce", "CRITICAL-1", "--target", "reference", "--allow-flush")
    assert run.code == ExitCode.HOLDS, run.out + run.err
    assert foreign.control.get_proxy("redis") is None


def test_without_allow_flush_nothing_changes_before_the_refusal(foreign, tmp_path):
    theirs = foreign.control.create_proxy("redis", f"{LOOPBACK}:{free_port()}", "10.9.9.9:6379")
    out = tmp_path / "run"
    run = on(foreign, 3, "nightly", "--budget", "1s", "--quiet", "--out", str(out))
    assert_one_line_error(run, ExitCode.USAGE, "refusing to flush", "--allow-flush")
    assert foreign.control.get_proxy("redis") == theirs
    assert not out.exists()
    assert keys_in(foreign, 3) == THEIRS[3]


def test_a_proxy_of_that_name_pointing_elsewhere_is_never_replaced(foreign):
    theirs = foreign.control.create_proxy("redis", f"{LOOPBACK}:{free_port()}", "10.9.9.9:6379")
    run = on(foreign, 3, "reproduce", "CRITICAL-1", "--allow-flush")
    assert_one_line_error(run, ExitCode.USAGE, "already has a proxy named 'redis'",
                          "leaves it alone")
    assert foreign.control.get_proxy("redis") == theirs
    assert keys_in(foreign, 3) == THEIRS[3]


def test_a_reset_scenario_is_not_applicable_on_a_database_other_than_0(foreign):
    run = on(foreign, 3, "reproduce", "FIELD-6", "--target", "reference", "--allow-flush")
    assert run.code == ExitCode.HOLDS, run.out + run.err
    assert "a reset needs Redis database 0, and this run uses 3" in run.out
