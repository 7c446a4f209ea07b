"""The pictures of a report: throughput and latency over time with the fault windows shaded,
and fault counts per kind. PNG bytes (matplotlib's Agg backend: no display needed), embedded
in the page as base64 so the report is one self-contained file.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

# One colour per nemesis kind, the same in every picture and in the page's legend.
KIND_COLOURS = {
    "latency": "#f2c14e",
    "reset_peer": "#e4572e",
    "timeout": "#9b5de5",
    "limit_data": "#17becf",
    "slicer": "#2e86ab",
    "bandwidth": "#8ac926",
    "proxy_down": "#555555",
    "failover": "#d62828",
}
OUTCOME_COLOURS = {"ok": "#2a9d8f", "unknown": "#e9c46a", "fail": "#e76f51"}
_WIDTH, _HEIGHT, _DPI = 11.0, 3.6, 100


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _shade(axes: Axes, windows: Sequence[Mapping[str, Any]]) -> list[Patch]:
    """Shade each applied window (a pair is shaded in both colours, half height each)."""
    seen: dict[str, Patch] = {}
    for window in windows:
        kinds = list(window["kinds"]) or ["?"]
        start, end = window["applied_start"], window["applied_end"]
        share = 1.0 / len(kinds)
        for i, kind in enumerate(kinds):
            colour = KIND_COLOURS.get(kind, "#999999")
            axes.axvspan(start, end, ymin=i * share, ymax=(i + 1) * share, color=colour,
                         alpha=0.28, linewidth=0)
            seen.setdefault(kind, Patch(color=colour, alpha=0.5, label=kind))
        if "failover" in kinds:  # the promotion happens as the window closes
            axes.axvline(end, color=KIND_COLOURS["failover"], linewidth=1.5)
    return [seen[k] for k in KIND_COLOURS if k in seen]


def _mark_budget(axes: Axes, budget_end: float | None) -> None:
    """A dashed line where the workload stopped; what follows is the drain."""
    if budget_end:
        axes.axvline(budget_end, color="#333333", linestyle="--", linewidth=1)
        axes.annotate(" drain", (budget_end, 1.0), xycoords=("data", "axes fraction"),
                      va="top", fontsize=8, color="#333333")


def _over_time(axes: Any, windows: Sequence[Mapping[str, Any]], budget_end: float | None,
               seconds: int, *, ylabel: str, title: str) -> None:
    """What every picture over time has: fault windows shaded, the drain marked, a legend."""
    patches = _shade(axes, windows)
    _mark_budget(axes, budget_end)
    axes.set_xlim(0, seconds)
    axes.set_xlabel("seconds since the run began")
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    handles, labels = axes.get_legend_handles_labels()
    axes.legend(handles + patches, labels + [p.get_label() for p in patches],
                loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)


def _dense(rows: Sequence[Mapping[str, Any]], field: str, span: int) -> list[float]:
    """One value per second from 0 to span; seconds without a row count as 0."""
    values = [0.0] * span
    for row in rows:
        if 0 <= row["t"] < span:
            values[row["t"]] = float(row.get(field, 0))
    return values


def throughput_png(
    rows: Sequence[Mapping[str, Any]],
    windows: Sequence[Mapping[str, Any]],
    span: float,
    budget_end: float | None = None,
) -> str:
    seconds = max(1, math.ceil(span))
    x = list(range(seconds))
    figure, axes = plt.subplots(figsize=(_WIDTH, _HEIGHT))
    stacks = [_dense(rows, outcome, seconds) for outcome in OUTCOME_COLOURS]
    axes.stackplot(x, *stacks, labels=[f"{o}" for o in OUTCOME_COLOURS],
                   colors=list(OUTCOME_COLOURS.values()), step="post", alpha=0.9)
    _over_time(axes, windows, budget_end, seconds, ylabel="operations / s",
               title="Throughput by outcome (shaded: fault windows)")
    axes.grid(alpha=0.3)
    return _png(figure)


def latency_png(
    rows: Sequence[Mapping[str, Any]],
    windows: Sequence[Mapping[str, Any]],
    span: float,
    budget_end: float | None = None,
) -> str:
    seconds = max(1, math.ceil(span))
    figure, axes = plt.subplots(figsize=(_WIDTH, _HEIGHT))
    styles = (("p50_ms", "p50", "#264653"), ("p95_ms", "p95", "#e76f51"),
              ("p99_ms", "p99", "#9b2226"))
    for field, label, colour in styles:
        points = [(row["t"] + 0.5, row[field]) for row in rows if row.get("ops")]
        if points:
            xs, ys = zip(*points, strict=True)
            axes.plot(xs, [max(y, 0.01) for y in ys], label=label, color=colour, linewidth=1.2)
    axes.set_yscale("log")
    _over_time(axes, windows, budget_end, seconds, ylabel="latency (ms, log scale)",
               title="Operation latency per second (shaded: fault windows)")
    axes.grid(alpha=0.3, which="both")
    return _png(figure)


def fault_counts_png(by_kind: Mapping[str, Mapping[str, float]]) -> str:
    kinds = [k for k in KIND_COLOURS if k in by_kind] + [k for k in by_kind
                                                          if k not in KIND_COLOURS]
    figure, (left, right) = plt.subplots(1, 2, figsize=(_WIDTH, 1.0 + 0.35 * len(kinds)))
    colours = [KIND_COLOURS.get(k, "#999999") for k in kinds]
    left.barh(kinds, [by_kind[k]["windows"] for k in kinds], color=colours)
    left.set_title("Windows per fault kind")
    left.invert_yaxis()
    right.barh(kinds, [by_kind[k]["seconds"] for k in kinds], color=colours)
    right.set_title("Seconds under each fault kind")
    right.invert_yaxis()
    right.set_yticklabels([])
    for axes in (left, right):
        axes.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    return _png(figure)
