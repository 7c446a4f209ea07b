"""report.html: self-contained, verdict first, every violation with evidence, trace and replay;
and it really renders (headless Chromium takes a screenshot of it)."""

import re
from datetime import UTC, datetime

import jsonschema
import pytest
from browser import chromium, needs_chromium
from PIL import Image

from harness.history import History, OpKind, Outcome
from harness.invariants import Violation
from harness.nightly.artifacts import write_artifacts
from harness.nightly.nemesis import AppliedWindow
from harness.nightly.run import NightlyOptions, NightlyResult
from harness.nightly.timeseries import TimeSeries
from harness.report.html import VERDICT_COLOURS, write_html
from harness.report.journal import JOURNAL_SCHEMA, read_journal

JOB = "ab" * 16


def _result(out, *, violated=True, infrastructure=None):
    """A run as NightlyRun would leave it: history and time series on disk, windows, verdict."""
    options = NightlyOptions(budget=6.0, seed=21, target="phase1", machine=False)
    history = History.to_file(out / "history.jsonl")
    request = {"workspace_id": "ws-a", "payload": {"n": 1}, "client_request_id": "p0-r1"}
    first = history.invoke("producer-0", OpKind.ENQUEUE, request, fault="nemesis:slicer")
    history.complete(first, Outcome.UNKNOWN, error="ConnectionError: closed")
    retry = history.invoke("producer-0", OpKind.ENQUEUE, request)
    history.complete(retry, Outcome.OK, JOB)
    history.close()
    series = TimeSeries.to_file(out / "timeseries.jsonl")
    for i in range(600):
        series.record(i / 100, "enqueue", "ok" if i % 7 else "unknown", 0.001 + i / 1e5,
                      crashed=False)
    series.close()
    schedule = options.planned_schedule()
    applied = [AppliedWindow(w, w.start, w.end) for w in schedule.windows]
    violations = [Violation("no_lost_jobs", f"job {JOB} (acknowledged to request 'p0-r1' in "
                            "ws-a) has no record readable in ws-a",
                            {"job_id": JOB, "workspace_id": "ws-a", "keys": []}, (1,))]
    return NightlyResult(
        options, out, "local", datetime.now(UTC), finished_at=datetime.now(UTC),
        versions={"redis": "7.0.15", "toxiproxy": "2.12.0"}, schedule=schedule,
        applied=applied, series=series,
        violations=violations if violated else [],
        summary={} if infrastructure else {"attempted": 1, "acknowledged": 1, "lost": 1},
        judged=infrastructure is None, telemetry_checked=True,
        infrastructure=infrastructure, workload_seconds=6.0, total_seconds=6.5,
    )


@pytest.fixture
def violated_page(tmp_path):
    write_artifacts(_result(tmp_path))
    return tmp_path / "report.html"


def test_the_page_needs_no_network(violated_page):
    page = violated_page.read_text()
    links = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert links and all(link.startswith("data:image/png;base64,") for link in links)
    assert "<link" not in page and "<script" not in page


def test_the_verdict_comes_before_everything_else(violated_page):
    page = violated_page.read_text()
    assert page.index('id="verdict-status"') < page.index('id="invariants"')
    assert re.search(r'id="verdict-status">\s*violated\s*<', page)


def test_a_violation_shows_its_evidence_trace_and_replay_command(violated_page):
    page = violated_page.read_text()
    assert "has no record readable in ws-a" in page
    assert "nemesis:slicer" in page  # the first attempt, from history.jsonl
    assert "queue-chaos nightly --seed 21 --target phase1 --budget 6s" in page


def test_the_pictures_are_embedded(violated_page):
    page = violated_page.read_text()
    assert page.count("data:image/png;base64,") == 3  # throughput, latency, fault counts


def test_an_infrastructure_failure_reads_as_no_verdict(tmp_path):
    write_artifacts(_result(tmp_path, infrastructure="InfrastructureError: redis-server died"))
    page = (tmp_path / "report.html").read_text()
    assert "No verdict on the queue" in page
    assert "redis-server died" in page
    assert "has no record readable" not in page


@pytest.mark.parametrize("kind", ["violated", "holds", "infrastructure"])
def test_every_kind_of_journal_follows_the_documented_schema(tmp_path, kind):
    write_artifacts(_result(tmp_path, violated=kind == "violated",
                            infrastructure="InfrastructureError: x" if kind == "infrastructure"
                            else None))
    journal = read_journal(tmp_path)
    jsonschema.validate(journal, JOURNAL_SCHEMA)
    assert journal["verdict"]["status"] == kind


def test_the_page_renders_again_from_the_journal_alone(violated_page):
    directory = violated_page.parent
    first = violated_page.read_text()
    violated_page.unlink()
    write_html(directory, read_journal(directory))
    assert violated_page.read_text() == first


# --- headless Chromium -------------------------------------------------------------------

@needs_chromium
def test_chromium_draws_the_page_with_the_verdict_banner_on_top(violated_page, tmp_path):
    shot = tmp_path / "report.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2000",
             violated_page.as_uri())
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 2000)
    banner = tuple(int(VERDICT_COLOURS["violated"][i:i + 2], 16) for i in (1, 3, 5))
    top = dict((colour, n) for n, colour in image.crop((0, 0, 1280, 300)).getcolors(1 << 20))
    assert top.get(banner, 0) > 50_000, "the red verdict banner is not in the top of the page"
    assert len(image.getcolors(1 << 20)) > 500, "the page looks blank"


@needs_chromium
def test_chromium_finds_the_verdict_text_in_the_dom(violated_page, tmp_path):
    dom = chromium(tmp_path, "--dump-dom", violated_page.as_uri()).stdout
    assert re.search(r'id="verdict-status">\s*violated\s*<', dom)
    assert "no_lost_jobs" in dom
