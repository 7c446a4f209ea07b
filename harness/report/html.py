"""report.html: one self-contained page rendered from a journal (and the run's time series).

Nothing on the page needs the network: styles are inline, pictures are base64 PNGs. The
page is rendered from journal.json and timeseries.jsonl alone, so `queue-chaos report DIR`
can render it again later (with a newer template, or compared with another run).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from harness.history import read_jsonl
from harness.report import job_queue_journal, plots

TEMPLATE = "report.html.j2"
# A job-queue library's night has its own page (its promises, its final states), made of the
# same parts (harness/templates/_*.html.j2).
TEMPLATES = {job_queue_journal.KIND: "job_queue_report.html.j2"}
FILE_NAME = "report.html"
VERDICT_COLOURS = {
    "holds": "#1b7f3b", "violated": "#b00020", "infrastructure": "#8a6d00",
    "interrupted": "#555555",
}
SHOWN_PER_INVARIANT = 10  # violations shown in full per invariant; the journal has more


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("harness", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pretty"] = lambda value: json.dumps(value, indent=2, sort_keys=True,
                                                     default=str)
    env.filters["compact"] = lambda value: json.dumps(value, sort_keys=True, default=str)
    return env


def load_timeseries(directory: Path, journal: Mapping[str, Any]) -> list[dict[str, Any]]:
    path = directory / journal["files"]["timeseries"]
    return list(read_jsonl(path)) if path.exists() else []


def pictures(journal: Mapping[str, Any], rows: list[dict[str, Any]]) -> dict[str, str]:
    """Base64 PNGs by name; a run with no operations gets no throughput or latency picture."""
    windows = journal["faults"]["applied"]
    budget_end = journal["run"]["workload_seconds"]
    span = max([budget_end, *(r["t"] + 1 for r in rows)])
    images: dict[str, str] = {}
    if rows:
        images["throughput"] = plots.throughput_png(rows, windows, span, budget_end)
        images["latency"] = plots.latency_png(rows, windows, span, budget_end)
    if journal["faults"]["by_kind"]:
        images["faults"] = plots.fault_counts_png(journal["faults"]["by_kind"])
    return images


def _grouped(journal: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Violations per invariant, most severe first, at most SHOWN_PER_INVARIANT in full."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for violation in journal["violations"]:
        groups.setdefault(violation["invariant"], []).append(violation)
    order = {inv["name"]: i for i, inv in enumerate(journal["invariants"])}
    return [
        {
            "invariant": name,
            "severity": items[0]["severity"],
            "total": journal["violations_by_invariant"].get(name, len(items)),
            "shown": items[:SHOWN_PER_INVARIANT],
        }
        for name, items in sorted(groups.items(), key=lambda kv: order.get(kv[0], 99))
    ]


def comparison(journal: Mapping[str, Any], other: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows (what, this run, the other run) for the figures that tell two runs apart."""

    def figures(j: Mapping[str, Any]) -> dict[str, Any]:
        ops = j["operations"]
        return {
            "verdict": j["verdict"]["status"],
            "target": j["run"]["target"],
            "seed": j["run"]["seed"],
            "budget (s)": j["run"]["budget_seconds"],
            "operations": ops["total"],
            "ops/s": ops["ops_per_second"],
            "latency p50 (ms)": ops["latency_ms"]["p50"],
            "latency p99 (ms)": ops["latency_ms"]["p99"],
            "fault windows": len(j["faults"]["applied"]),
            "violations": sum(j["violations_by_invariant"].values()),
            **{f"violations: {k}": v for k, v in sorted(j["violations_by_invariant"].items())},
            **{f"jobs {k}": v for k, v in j["summary"].items()},
        }

    mine, theirs = figures(journal), figures(other)
    keys = list(dict.fromkeys([*mine, *theirs]))
    return [
        {"what": k, "this": mine.get(k, "-"), "other": theirs.get(k, "-"),
         "differs": mine.get(k, "-") != theirs.get(k, "-")}
        for k in keys
    ]


def render_html(
    journal: Mapping[str, Any],
    rows: list[dict[str, Any]],
    compare: Mapping[str, Any] | None = None,
    compare_name: str = "",
) -> str:
    template = _environment().get_template(TEMPLATES.get(journal["kind"], TEMPLATE))
    return template.render(
        j=journal,
        colour=VERDICT_COLOURS.get(journal["verdict"]["status"], "#333333"),
        images=pictures(journal, rows),
        groups=_grouped(journal),
        kind_colours=plots.KIND_COLOURS,
        comparison=comparison(journal, compare) if compare else None,
        compare_name=compare_name,
    )


def write_html(
    directory: Path,
    journal: Mapping[str, Any],
    compare: Mapping[str, Any] | None = None,
    compare_name: str = "",
) -> Path:
    path = directory / journal["files"]["html"]
    rows = load_timeseries(directory, journal)
    path.write_text(render_html(journal, rows, compare, compare_name), encoding="utf-8")
    return path
