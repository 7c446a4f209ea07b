"""pytest plugin (entry point `pytest11`): the harness as fixtures that clean up after themselves.

Servers and clients
  qc_services        session-wide real Redis behind a real Toxiproxy, started on first use
  qc_redis           a direct client to that Redis, emptied and with every toxic removed, per test
  qc_registry        a fresh Prometheus registry per test
  qc_client          a client through the proxy, retry policy explicit (ClientPolicy())
  qc_injector        a FaultInjector on the proxy: faults at chosen round trips, healed after
  qc_faulted_client  a client through the proxy whose round trips qc_injector counts and faults

A queue under test (a target: "phase1", "reference", "module:factory" or the factory itself)
  qc_gate(target)          the verdict `queue-chaos gate` gives: every scenario, then the state
                           machine (gate profile), the same blocking policy; fails the test
                           with the gate's table and traces, returns a harness.gate.GateReport
  qc_target(target)        a harness.driver.Driver: run, fault, record and judge operations
  qc_check_queue(target)   the state machine alone; fails the test with the minimal
                           failing programs when an invariant breaks, returns a MachineResult
  qc_reproduce(id, target) one scenario (by id, or a Scenario of your own): a ScenarioResult

    def test_my_queue_passes_the_gate(qc_gate):
        qc_gate("mypkg.queue:make_queue")

Where a helper is given no target it takes the `qc_target` marker's, then --qc-target, then the
`qc_target` ini option. Options: --qc-backend (else QUEUE_CHAOS_BACKEND, else the `qc_backend`
ini option, else local), --qc-profile / `qc_profile` (gate, nightly, repro), --qc-examples.
Every test that uses these servers is marked `queue_chaos`: `-m "not queue_chaos"` skips them
without starting any server.
"""

from __future__ import annotations

import contextlib
import functools
import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
import redis
from hypothesis import settings as Settings
from prometheus_client import CollectorRegistry

from harness.driver import DRIVER_POLICY, Driver
from harness.errors import QueueChaosError, UsageError
from harness.faults import FaultKind
from harness.gate import DEFAULT_BLOCKING, GateReport, parse_blocking, render_report, run_gate
from harness.injector import FaultInjector, injected_client
from harness.invariants import Severity
from harness.machine import (
    SHRINK_BUDGET,
    MachineResult,
    MachineSetup,
    run_by_severity,
    run_machine,
)
from harness.profiles import PROFILES, profile_settings
from harness.redis_client import ClientPolicy, build_client
from harness.scenario import Scenario, ScenarioResult, run_scenario
from harness.servers.config import BACKENDS, ENV, ServicesConfig
from harness.servers.services import Services, open_services
from harness.target import TargetFactory
from harness.undeclared import warning
from scenarios import BY_ID, CATALOGUE, select

TargetSpec = str | TargetFactory
MARKER = "queue_chaos"  # added to every test that uses the servers
TARGET_MARKER = "qc_target"
EXAMPLES_DB = "queue-chaos-examples"  # under pytest's cache: nightly failures replay next run


# --- options and markers ---------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("queue-chaos", "queue-chaos: real faults between a queue's writes")
    group.addoption("--qc-backend", choices=BACKENDS, default=None,
                    help=f"where Redis and Toxiproxy come from (else {ENV['backend']}, "
                         "else the qc_backend ini option, else local)")
    group.addoption("--qc-profile", choices=PROFILES, default=None,
                    help="Hypothesis profile of qc_check_queue (else the qc_profile ini option)")
    group.addoption("--qc-examples", type=int, default=None, metavar="N",
                    help="state machine examples per qc_check_queue (default: the profile's)")
    group.addoption("--qc-target", default=None, metavar="SPEC",
                    help="target of the qc_* helpers when a test names none")
    parser.addini("qc_backend", "queue-chaos backend: local, compose or containers", default="")
    parser.addini("qc_profile", "queue-chaos profile of qc_check_queue", default="gate")
    parser.addini("qc_target", "target of the qc_* helpers when a test names none", default="")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}: uses real Redis and Toxiproxy through the queue-chaos fixtures "
                   "(added automatically)")
    config.addinivalue_line(
        "markers", f"{TARGET_MARKER}(spec): the target the queue-chaos helpers use in this test "
                   "when it names none")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "qc_services" in getattr(item, "fixturenames", ()):
            item.add_marker(MARKER)


def services_config(config: pytest.Config) -> ServicesConfig:
    """--qc-backend, else QUEUE_CHAOS_BACKEND, else the ini option; the rest from QUEUE_CHAOS_*."""
    environ = dict(os.environ)
    ini_backend = str(config.getini("qc_backend")).strip()
    if ini_backend and not environ.get(ENV["backend"]):
        environ[ENV["backend"]] = ini_backend
    return ServicesConfig.from_env(environ, backend=config.getoption("qc_backend"))


def default_target(request: pytest.FixtureRequest) -> TargetSpec:
    marker = request.node.get_closest_marker(TARGET_MARKER)
    if marker is not None and marker.args:
        return marker.args[0]
    spec = request.config.getoption("qc_target") or str(request.config.getini("qc_target"))
    if not spec:
        raise UsageError("no target: pass one (e.g. 'mypkg.queue:make_queue' or the factory), "
                         f"mark the test @pytest.mark.{TARGET_MARKER}(...), or set --qc-target "
                         "or the qc_target ini option")
    return spec


# --- targets given as callables ----------------------------------------------------------------


class NamedFactory:
    """A factory given as a callable, named "module:qualname" in traces and errors.

    functools.update_wrapper keeps its __module__, so a static scenario lints the right file.
    """

    def __init__(self, factory: TargetFactory) -> None:
        functools.update_wrapper(self, factory)
        self.factory = factory
        self.label = (f"{getattr(factory, '__module__', None) or '?'}:"
                      f"{getattr(factory, '__qualname__', None) or type(factory).__name__}")

    def __call__(self, client: redis.Redis, registry: CollectorRegistry) -> Any:
        return self.factory(client, registry)

    def __str__(self) -> str:
        return self.label

    def __repr__(self) -> str:
        return repr(self.label)


def as_target(spec: TargetSpec) -> TargetSpec:
    """A spec string as it is; a callable named for the reports."""
    if isinstance(spec, str | NamedFactory):
        return spec
    if not callable(spec):
        raise UsageError(f"bad target {spec!r}: give 'module:factory', an alias or the factory")
    return NamedFactory(spec)


# --- the harness without the CLI ---------------------------------------------------------------


def check_queue(
    services: Services,
    target: TargetSpec,
    settings: Settings,
    *,
    severity_passes: bool = True,
    seed: int | None = None,
    fault_kinds: tuple[FaultKind, ...] = tuple(FaultKind),
    policy: ClientPolicy = DRIVER_POLICY,
    shrink_budget: float | None = SHRINK_BUDGET,
) -> MachineResult:
    """The state machine on `target`; one pass per severity (as the gate runs it) by default."""
    setup = MachineSetup(services, as_target(target), policy, fault_kinds,
                         shrink_budget=shrink_budget)
    run = run_by_severity if severity_passes else run_machine
    return run(setup, settings, seed)


def machine_settings(config: pytest.Config, profile: str | None, max_examples: int | None,
                     steps: int | None) -> Settings:
    """A profile's settings, scaled by the arguments, else by --qc-examples."""
    name = profile or config.getoption("qc_profile") or str(config.getini("qc_profile"))
    database = None
    if name != "gate" and getattr(config, "cache", None) is not None:
        database = config.cache.mkdir(EXAMPLES_DB)
    try:
        return profile_settings(name, database, max_examples or config.getoption("qc_examples"),
                                steps)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def qc_services(pytestconfig: pytest.Config) -> Iterator[Services]:
    try:
        config = services_config(pytestconfig)
        with open_services(config) as services:
            yield services
    except QueueChaosError as exc:
        pytest.fail(f"queue-chaos: {exc}", pytrace=False)


@pytest.fixture
def qc_redis(qc_services: Services) -> Iterator[redis.Redis]:
    qc_services.control.reset()
    client = qc_services.direct_client()
    qc_services.flush(client)
    yield client
    client.close()


@pytest.fixture
def qc_registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def qc_client(qc_services: Services, qc_redis: redis.Redis) -> Iterator[redis.Redis]:
    client = build_client(qc_services.proxy.host, qc_services.proxy.port, ClientPolicy(),
                          db=qc_services.database)
    yield client
    with contextlib.suppress(redis.RedisError):
        client.close()


@pytest.fixture
def qc_injector(qc_services: Services, qc_redis: redis.Redis) -> Iterator[FaultInjector]:
    """Depends on qc_redis so that Redis is empty and no toxic is left when a test starts."""
    injector = FaultInjector(qc_services.control, qc_services.proxy_name)
    yield injector
    with contextlib.suppress(QueueChaosError):  # a test that stopped Toxiproxy on purpose
        injector.heal()


@pytest.fixture
def qc_faulted_client(qc_services: Services,
                      qc_injector: FaultInjector) -> Iterator[redis.Redis]:
    """Through the proxy, retries off (ClientPolicy()), socket timeout 0.5 s."""
    client = injected_client(qc_services.proxy.host, qc_services.proxy.port, qc_injector,
                             db=qc_services.database)
    yield client
    with contextlib.suppress(redis.RedisError):
        client.close()


@pytest.fixture
def qc_target(request: pytest.FixtureRequest,
              qc_services: Services) -> Iterator[Callable[..., Driver]]:
    """`qc_target(target=None, policy=DRIVER_POLICY)`: a Driver on a fresh target.

    Each Driver starts from a clean slate (toxics removed, Redis emptied), so a second one
    wipes what the first wrote. Every Driver made is closed after the test.
    """
    drivers: list[Driver] = []

    def make(target: TargetSpec | None = None, policy: ClientPolicy = DRIVER_POLICY) -> Driver:
        spec = as_target(target if target is not None else default_target(request))
        driver = Driver(qc_services, spec, policy)
        drivers.append(driver)
        return driver

    yield make
    for driver in drivers:
        with contextlib.suppress(QueueChaosError, redis.RedisError):
            driver.close()


@pytest.fixture
def qc_check_queue(request: pytest.FixtureRequest,
                   qc_services: Services) -> Callable[..., MachineResult]:
    """`qc_check_queue(target=None, *, profile=None, max_examples=None, steps=None,
    severity_passes=True, seed=None, fault_kinds=all, settings=None, shrink_budget=10)`.

    Fails the test with Hypothesis's minimal failing programs when an invariant breaks;
    `settings` (a hypothesis.settings) replaces the profile entirely; `shrink_budget`
    bounds the shrinking of a failure in seconds per run (0: the first failing program
    as found; None: 300 s). Infrastructure errors raise
    InfrastructureError: no verdict on the queue.
    """

    def check(target: TargetSpec | None = None, *, profile: str | None = None,
              max_examples: int | None = None, steps: int | None = None,
              severity_passes: bool = True, seed: int | None = None,
              fault_kinds: tuple[FaultKind, ...] = tuple(FaultKind),
              settings: Settings | None = None,
              shrink_budget: float | None = SHRINK_BUDGET) -> MachineResult:
        spec = as_target(target if target is not None else default_target(request))
        chosen = settings or machine_settings(request.config, profile, max_examples, steps)
        result = check_queue(qc_services, spec, chosen, severity_passes=severity_passes,
                             seed=seed, fault_kinds=fault_kinds, shrink_budget=shrink_budget)
        if not result.holds:
            shrinking = f"\nshrinking: {result.shrinking}" if result.shrinking else ""
            pytest.fail(f"queue-chaos: {spec} violates {', '.join(result.invariants_violated)}"
                        f"{shrinking}\n{result.report}", pytrace=False)
        return result

    return check


class QueueChaosWarning(UserWarning):
    """Something the gate could not judge and says so (keys outside the declared schema)."""


@pytest.fixture
def qc_gate(request: pytest.FixtureRequest,
            qc_services: Services) -> Callable[..., GateReport]:
    """`qc_gate(target=None, *, block_on="CRITICAL,HIGH", max_examples=None, steps=None,
    machine=True, shrink_budget=10, every_severity=False, sweep=True)`: what `queue-chaos
    gate --target T` concludes, from a test (`shrink_budget`, `every_severity` and `sweep`
    as the command's `--shrink-budget`, `--every-severity` and `--no-sweep`).

    Every scenario, then the state machine under the gate profile (scaled by the arguments,
    else --qc-examples), judged with the same blocking severities. A blocking finding fails
    the test with the gate's table, the traces and the minimal programs; keys outside the
    target's schema are a QueueChaosWarning. Returns the GateReport either way it passes.
    """

    def gate(target: TargetSpec | None = None, *,
             block_on: str | Iterable[Severity] = DEFAULT_BLOCKING,
             max_examples: int | None = None, steps: int | None = None,
             machine: bool = True, shrink_budget: float | None = SHRINK_BUDGET,
             every_severity: bool = False, sweep: bool = True) -> GateReport:
        spec = as_target(target if target is not None else default_target(request))
        blocking = parse_blocking(block_on) if isinstance(block_on, str) else frozenset(block_on)
        settings = machine_settings(request.config, "gate", max_examples, steps) if machine \
            else None
        report = run_gate(qc_services, spec, CATALOGUE, settings, blocking=blocking,
                          shrink_budget=shrink_budget, every_severity=every_severity,
                          sweep=sweep)
        if report.undeclared_keys:
            warnings.warn(warning(report.undeclared_keys), QueueChaosWarning, stacklevel=2)
        if not report.passed:
            pytest.fail(render_report(report), pytrace=False)
        return report

    return gate


@pytest.fixture
def qc_reproduce(request: pytest.FixtureRequest,
                 qc_services: Services) -> Callable[..., ScenarioResult]:
    """`qc_reproduce(scenario, target=None)`: one scenario, by id or a Scenario of your own.

    Returns the ScenarioResult (`.violated`, `.trace`) and leaves the verdict to the test:
    a finding is expected to reproduce on a buggy queue and to hold on a fixed one.
    """
    def reproduce(scenario: str | Scenario, target: TargetSpec | None = None) -> ScenarioResult:
        if isinstance(scenario, str):
            chosen = [BY_ID[scenario]] if scenario in BY_ID else select(scenario)
            if len(chosen) > 1:
                raise UsageError(f"{scenario} names {len(chosen)} scenarios ("
                                 + ", ".join(s.id for s in chosen) + "): reproduce one at a time")
            scenario = chosen[0]
        spec = as_target(target if target is not None else default_target(request))
        return run_scenario(scenario, qc_services, spec)

    return reproduce
