"""Every count a nightly run reports agrees with the violations it lists: the journal's
per-invariant counts, its job summary, and the report page rendered from it.

The run is of the doubling queue (tests/data/doubling_queue.py): 49 requests each end with
two jobs in Redis, the second one never returned to the caller.
"""

from __future__ import annotations

import re

import pytest
from cli_runs import DATA, QUEUE_CHAOS, compose_flags, run_command

from harness.errors import ExitCode
from harness.report.journal import MAX_DETAILED, read_journal

pytestmark = pytest.mark.servers

DOUBLED = 49


@pytest.fixture(scope="module")
def doubled_run(qc_services, tmp_path_factory):
    out = tmp_path_factory.mktemp("counts") / "run"
    run = run_command([QUEUE_CHAOS, "nightly", "--budget", "3s", "--seed", "3", "--no-nemesis",
                       "--no-machine", "--quiet", "--target", "doubling_queue:make_queue",
                       "--out", out, *compose_flags(qc_services)], pythonpath=DATA,
                      env={"QC_DOUBLE": str(DOUBLED)})
    assert run.code == ExitCode.VIOLATION, run.out + run.err
    return out, read_journal(out), run.out


def extra_jobs(violations: list[dict]) -> set[str]:
    """The jobs the listed violations name as a request's second job (or a second entry)."""
    extra: set[str] = set()
    for v in violations:
        if v["invariant"] == "no_duplicates":
            extra.add(v["evidence"]["job_id"])
        elif v["invariant"] == "retry_safe_idempotency" and "job_ids" in v["evidence"]:
            extra |= set(sorted(v["evidence"]["job_ids"])[1:])  # which is first: no matter
    return extra


def test_the_duplicated_count_is_the_number_of_second_jobs_the_violations_list(doubled_run):
    _, journal, _ = doubled_run
    assert len(journal["violations"]) < MAX_DETAILED  # every violation is listed in full
    assert len(extra_jobs(journal["violations"])) == DOUBLED
    assert journal["summary"]["duplicated"] == DOUBLED
    assert len(journal["summary_ids"]["duplicated_ids"]) == DOUBLED


def test_the_counts_per_invariant_are_the_violations_listed(doubled_run):
    _, journal, _ = doubled_run
    listed: dict[str, int] = {}
    for v in journal["violations"]:
        listed[v["invariant"]] = listed.get(v["invariant"], 0) + 1
    assert journal["violations_by_invariant"] == listed
    for row in journal["invariants"]:
        assert row["violations"] == listed.get(row["name"], 0)
        assert (row["status"] == "violated") == (row["name"] in listed)


def test_the_lost_count_is_the_number_of_jobs_the_violations_name_lost(doubled_run):
    _, journal, _ = doubled_run
    named = {v["evidence"]["job_id"] for v in journal["violations"]
             if v["invariant"] == "no_lost_jobs" and "job_id" in v["evidence"]}
    assert journal["summary"]["lost"] == len(named)
    assert set(journal["summary_ids"]["lost_ids"]) == named


def test_the_page_and_the_printed_summary_say_the_same_counts(doubled_run):
    out, journal, printed = doubled_run
    page = (out / "report.html").read_text()
    jobs = page.split("<h2>Jobs (total-queue view)</h2>")[1].split("</table>")[0]
    heads = re.findall(r'<th class="num">(\w+)</th>', jobs)
    cells = re.findall(r'<td class="num">(\d+)</td>', jobs)
    assert dict(zip(heads, map(int, cells), strict=True)) == journal["summary"]
    total = sum(journal["violations_by_invariant"].values())
    assert re.search(rf'<div class="k">violations</div><div class="v">{total}</div>', page)
    assert f"duplicated={DOUBLED}," in printed
