"""Nightly runs with failover windows, on a real primary and replica behind Toxiproxy.

A failover window cuts (or delays) the replication link and, as it closes, promotes the
replica: the plain reference then loses jobs it acknowledged, and each such loss names the
failover that lost it; the waiting reference (WAIT 1 after each write) holds through the
same schedule. A schedule of failover windows needs replicas: without them it is refused.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import jsonschema
import pytest
from browser import chromium, needs_chromium
from cli_runs import run_cli
from PIL import Image

from harness.errors import ExitCode, UsageError
from harness.nightly.artifacts import write_artifacts
from harness.nightly.nemesis import Nemesis
from harness.nightly.run import NightlyOptions, NightlyRun
from harness.nightly.schedule import NemesisKind, ScheduleShape, draw_schedule
from harness.replication import replicated_services
from harness.report.journal import JOURNAL_SCHEMA, read_journal
from harness.servers.config import ServicesConfig

pytestmark = pytest.mark.servers

# Failover windows only, the first one early and long enough for many acknowledged writes.
ONLY_FAILOVERS = ScheduleShape(kinds=(NemesisKind.FAILOVER,), warmup=0.5, length=(1.5, 2.0),
                               quiet=(1.0, 1.5))
BUDGET = 5.0


def _seed_with_a_cut_link_first() -> int:
    """A seed whose first window cuts the link: what the old primary acknowledges in it is
    surely never replicated (a late link may have caught up by the promotion)."""
    return next(seed for seed in range(100)
                if (w := draw_schedule(seed, BUDGET, ONLY_FAILOVERS).windows)
                and w[0].link is not None and w[0].link.cut)


def _run(target: str, out: Path) -> Path:
    options = NightlyOptions(budget=BUDGET, target=target, seed=_seed_with_a_cut_link_first(),
                             failover=True, machine=False, schedule=ONLY_FAILOVERS,
                             drain_seconds=5.0)
    with replicated_services(ServicesConfig(backend="local")) as services:
        result = NightlyRun(options, services, out).execute()
    write_artifacts(result)
    return out


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory) -> Path:
    return _run("reference", tmp_path_factory.mktemp("failover") / "reference")


@pytest.fixture(scope="module")
def reference_journal(reference_run) -> dict:
    return read_journal(reference_run)


@pytest.fixture(scope="module")
def waiting_journal(tmp_path_factory) -> dict:
    return read_journal(_run("reference-wait", tmp_path_factory.mktemp("failover") / "waiting"))


def test_a_failover_with_the_link_cut_loses_jobs_the_reference_acknowledged(reference_journal):
    assert reference_journal["verdict"]["status"] == "violated"
    assert reference_journal["summary"]["lost"] > 0
    assert reference_journal["violations_by_invariant"].get("no_lost_jobs", 0) > 0


def test_each_lost_job_names_the_failover_that_lost_it(reference_journal):
    lost = [v for v in reference_journal["violations"] if v["invariant"] == "no_lost_jobs"]
    assert lost and all(v["failover"] is not None for v in lost)
    first = reference_journal["faults"]["failovers"][0]
    for violation in lost:
        assert violation["failover"]["start"] == first["start"]
        assert "never replicated" in violation["failover"]["says"]


def test_the_failover_record_says_how_far_the_promoted_replica_was_behind(reference_journal):
    failovers = reference_journal["faults"]["failovers"]
    assert failovers and failovers[0]["unreplicated_bytes"] > 0
    assert failovers[0]["link_up"] is False
    window = next(w for w in reference_journal["faults"]["applied"] if "failover" in w)
    assert window["kinds"] == ["failover"] and window["link"]["cut"] is True


def test_the_waiting_reference_holds_through_the_same_failovers(waiting_journal):
    assert waiting_journal["verdict"]["status"] == "holds", waiting_journal["violations"][:2]
    assert waiting_journal["faults"]["failovers"], "the schedule did fail over"
    summary = waiting_journal["summary"]
    assert summary["acknowledged"] > 0 and summary["lost"] == 0


def test_a_journal_with_failovers_follows_the_documented_schema(reference_journal):
    jsonschema.validate(reference_journal, JOURNAL_SCHEMA)
    assert reference_journal["run"]["failover"] is True
    assert reference_journal["run"]["replay_command"].endswith("--failover")


def test_the_report_marks_violations_a_failover_explains(reference_run):
    page = (reference_run / "report.html").read_text(encoding="utf-8")
    assert 'class="pill failover"' in page
    assert "never replicated" in page


@needs_chromium
def test_chromium_shows_the_failover_count_and_the_failover_marks(reference_run, tmp_path):
    page = (reference_run / "report.html").as_uri()
    dom = chromium(tmp_path, "--dump-dom", page).stdout
    assert re.search(r"\(\d+ failovers?\)", dom), "the fault-window fact counts failovers"
    assert dom.count('class="pill failover"') >= 1
    shot = tmp_path / "report.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2400", page)
    assert len(Image.open(shot).convert("RGB").getcolors(1 << 20)) > 500, "a blank page"


def test_a_failover_schedule_without_replicas_is_refused():
    schedule = draw_schedule(1, 30.0, ONLY_FAILOVERS)
    with pytest.raises(UsageError, match="primary and a replica"):
        Nemesis(None, "proxy", schedule, lambda: 0.0, threading.Event())  # type: ignore[arg-type]


def test_nightly_failover_on_servers_it_did_not_start_exits_2_and_writes_nothing(tmp_path):
    out = tmp_path / "run"
    result = run_cli("nightly", "--budget", "3s", "--failover", "--backend", "compose",
                     "--out", str(out), "--quiet")
    assert result.code == ExitCode.USAGE, result.err
    assert "local backend" in result.err
    assert not out.exists()
