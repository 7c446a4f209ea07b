"""`queue-chaos nightly --target rq|dramatiq`: a library's night for a budget under seeded
fault windows, its report folder, and the exit codes (1 violation, 2 usage, 3
infrastructure), on real servers."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import textwrap

import jsonschema
import pytest
from browser import chromium, needs_chromium
from cli_runs import QUEUE_CHAOS, Run, compose_flags, run_cli, run_command
from PIL import Image

from harness.errors import ExitCode
from harness.nightly.job_queue_night import JobQueueNightOptions
from harness.report.html import VERDICT_COLOURS
from harness.report.job_queue_journal import JOB_QUEUE_JOURNAL_SCHEMA
from harness.servers.config import ServicesConfig
from harness.servers.services import local_services

pytestmark = pytest.mark.servers

LIBRARIES = [
    pytest.param("rq", marks=pytest.mark.skipif(
        importlib.util.find_spec("rq") is None,
        reason="rq is not installed: pip install 'queue-chaos[rq]'")),
    pytest.param("dramatiq", marks=pytest.mark.skipif(
        importlib.util.find_spec("dramatiq") is None,
        reason="dramatiq is not installed: pip install 'queue-chaos[dramatiq]'")),
]
SEED = 1  # draws one limit_data window, 0.3-2.55 s, in a 3 s budget


@pytest.fixture(scope="module", params=LIBRARIES)
def night(request, qc_services, tmp_path_factory) -> tuple[str, Run, dict]:
    """One short night per library, shared by the tests that read what it left."""
    out = tmp_path_factory.mktemp(f"night-{request.param}") / "run"
    run = run_cli("nightly", "--budget", "3s", "--target", request.param, "--seed", str(SEED),
                  "--out", str(out), "--quiet", *compose_flags(qc_services))
    journal = json.loads((out / "journal.json").read_text()) if out.is_dir() else {}
    return request.param, run, journal | {"out": out}


def test_a_night_exits_per_its_verdict_and_says_where_its_report_is(night):
    library, run, journal = night
    assert run.code in (ExitCode.HOLDS, ExitCode.VIOLATION), run.out + run.err
    assert run.code == journal["verdict"]["exit_code"]
    assert f"verdict: {journal['verdict']['status']} ({library} " in run.out
    assert f"report: {journal['out'] / 'report.html'}" in run.out
    assert f"replay: queue-chaos nightly --seed {SEED} --target {library} --budget 3s" in run.out


def test_report_renders_a_nights_page_again_from_its_journal(night):
    _, _, journal = night
    page = journal["out"] / "report.html"
    page.unlink()
    run = run_cli("report", str(journal["out"]))
    assert run.code == ExitCode.HOLDS, run.out + run.err
    assert "Promises" in page.read_text()


def test_the_journal_names_the_library_its_promises_and_the_seed(night):
    library, _, journal = night
    jsonschema.validate({k: v for k, v in journal.items() if k != "out"},
                        JOB_QUEUE_JOURNAL_SCHEMA)
    assert journal["run"]["library"].startswith(f"{library} ")
    assert journal["run"]["seed"] == SEED
    assert journal["promises"]["delivery"] in ("at_most_once", "at_least_once")
    assert journal["summary"]["acknowledged"] > 0


def test_the_windows_applied_are_those_the_seed_draws(night):
    library, _, journal = night
    planned = JobQueueNightOptions(budget=3.0, target=library, seed=SEED).schedule()
    applied = journal["faults"]["applied"]
    assert applied, "the seed drew no window: the run met no fault"
    assert [w["kinds"] for w in applied] == [[str(k) for k in w.kinds]
                                             for w in planned.windows]


def test_every_acknowledged_job_is_counted_in_the_final_states(night):
    _, _, journal = night
    states = journal["final_states"]
    lost = journal["violations_by_invariant"].get("no_lost_jobs", 0)
    held = states["queued"] + states["taken"] + states["done"] + states["failed"]
    assert held + states["absent"] + states["gone"] >= journal["summary"]["acknowledged"]
    assert states["gone"] <= lost


def test_a_problem_names_its_job_with_the_evidence_and_the_jobs_operations(night):
    _, _, journal = night
    for violation in journal["violations"]:
        assert violation["job_id"] and violation["evidence"]["job_id"] == violation["job_id"]
        assert any(op["args"].get("job_id") == violation["job_id"]
                   for op in violation["trace"])


@needs_chromium
def test_chromium_shows_the_verdict_and_the_windows(night, tmp_path):
    _, _, journal = night
    page = journal["out"] / "report.html"
    dom = chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    status = journal["verdict"]["status"]
    assert re.search(rf'id="verdict-status">\s*{status}\s*<', dom)
    windows = dom.split('id="windows"', 1)[1].split("</table>", 1)[0]
    for window in journal["faults"]["applied"]:
        assert f"<td>{' + '.join(window['kinds'])}</td>" in windows
    assert 'id="promises"' in dom and journal["promises"]["delivery"] in dom


@needs_chromium
def test_chromium_draws_the_verdict_banner_in_its_colour_on_top(night, tmp_path):
    _, _, journal = night
    shot = tmp_path / "report.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,1600",
             (journal["out"] / "report.html").as_uri())
    image = Image.open(shot).convert("RGB")
    colour = VERDICT_COLOURS[journal["verdict"]["status"]]
    banner = tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
    top = {c: n for n, c in image.crop((0, 0, 1280, 300)).getcolors(1 << 20)}
    assert top.get(banner, 0) > 50_000, "the verdict banner is not at the top of the page"


def test_the_replay_command_carries_the_adapter_options():
    options = JobQueueNightOptions(budget=90, target="rq", seed=7,
                                   options={"queues": 2, "unique": True})
    assert options.replay_command() == ("queue-chaos nightly --seed 7 --target rq --budget 1m30s"
                                        " --option queues=2 --option unique=true")


@pytest.mark.parametrize(("flags", "says"), [
    (["--failover"], "--failover: for the dual-write nightly"),
    (["--racers", "2"], "--racers: for the dual-write nightly"),
    (["--database", "dir"], "--database: for the dual-write nightly"),
    (["--option", "queues"], "give KEY=VALUE"),
    (["--option", "queues=5"], "rq does not take the options {'queues': 5}"),
], ids=["failover", "racers", "database", "option-syntax", "option-refused"])
def test_a_flag_that_makes_no_sense_for_rq_exits_2_and_writes_nothing(qc_services, tmp_path,
                                                                      flags, says):
    pytest.importorskip("rq")
    out = tmp_path / "run"
    run = run_cli("nightly", "--budget", "2s", "--target", "rq", "--out", str(out), *flags,
                  *compose_flags(qc_services))
    assert run.code == ExitCode.USAGE, run.out + run.err
    assert says in run.err and not run.out
    assert not out.exists()


def test_an_adapter_option_on_a_dual_write_target_exits_2(tmp_path):
    run = run_cli("nightly", "--budget", "2s", "--target", "reference", "--option", "queues=2",
                  "--out", str(tmp_path / "run"))
    assert run.code == ExitCode.USAGE
    assert "--option is for a job-queue target" in run.err
    assert not (tmp_path / "run").exists()


def test_without_rq_installed_the_nightly_says_which_extra_to_install(tmp_path, monkeypatch):
    monkeypatch.delitem(sys.modules, "queue_impl.adapters.rq_adapter", raising=False)
    monkeypatch.setitem(sys.modules, "rq", None)  # import rq now raises ModuleNotFoundError
    run = run_cli("nightly", "--budget", "2s", "--target", "rq", "--out", str(tmp_path / "run"))
    assert run.code == ExitCode.USAGE, run.out + run.err
    assert "pip install 'queue-chaos[rq]'" in run.err and not run.out
    assert not (tmp_path / "run").exists()


DOOMED_ADAPTER = textwrap.dedent("""
    import os
    import signal
    import threading

    from queue_impl.adapters.rq_adapter import make_rq

    timer = None


    def make(client, **options):
        global timer
        if timer is None:  # a second into the workload, the server dies under the queue
            timer = threading.Timer(1.0, os.kill, (int(os.environ["QC_KILL_PID"]),
                                                   signal.SIGKILL))
            timer.start()
        return make_rq(client, **options)
""")


@pytest.mark.parametrize(("server", "says"), [("redis-server", "Redis"),
                                              ("toxiproxy-server", "Toxiproxy")])
def test_a_server_killed_mid_night_exits_3_with_no_verdict_on_the_queue(tmp_path, server,
                                                                        says):
    pytest.importorskip("rq")
    (tmp_path / "doomed_adapter.py").write_text(DOOMED_ADAPTER)
    out = tmp_path / "run"
    with local_services(ServicesConfig()) as private:
        victim = next(p for p in private.processes if p.name == server)
        run = run_command([QUEUE_CHAOS, "nightly", "--budget", "3s", "--target",
                           "doomed_adapter:make", "--seed", str(SEED), "--out", out,
                           "--quiet", *compose_flags(private)],
                          pythonpath=tmp_path, env={"QC_KILL_PID": str(victim.pid)})
        assert not victim.alive()  # the night really lost its server
    assert run.code == ExitCode.INFRASTRUCTURE, run.out + run.err
    assert "verdict: infrastructure" in run.out
    journal = json.loads((out / "journal.json").read_text())
    assert journal["verdict"]["status"] == "infrastructure"
    assert says in journal["verdict"]["reason"]
    assert journal["violations"] == [] and journal["violations_by_invariant"] == {}
