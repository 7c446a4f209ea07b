"""Per-second throughput and latency rows, with memory that does not grow with the run."""

import io
import json

from harness.nightly.timeseries import LogHistogram, TimeSeries, percentile


def test_operations_are_counted_in_the_second_they_complete():
    sink = io.StringIO()
    series = TimeSeries(sink)
    series.record(0.2, "enqueue", "ok", 0.001, crashed=False)
    series.record(0.9, "dequeue", "unknown", 0.5, crashed=False)
    series.record(1.1, "enqueue", "ok", 0.002, crashed=False)
    series.record(3.5, "get_job", "fail", 0.003, crashed=False)
    rows = [json.loads(line) for line in sink.getvalue().splitlines()]
    assert [(r["t"], r["ops"], r["ok"], r["unknown"], r["fail"]) for r in rows] == [
        (0, 2, 1, 1, 0), (1, 1, 1, 0, 0)]


def test_closing_writes_the_last_second(tmp_path):
    series = TimeSeries.to_file(tmp_path / "timeseries.jsonl")
    series.record(0.5, "enqueue", "ok", 0.001, crashed=False)
    series.close()
    assert json.loads((tmp_path / "timeseries.jsonl").read_text())["t"] == 0


def test_a_row_holds_exact_percentiles_of_its_second(tmp_path):
    series = TimeSeries.to_file(tmp_path / "timeseries.jsonl")
    for ms in range(1, 101):
        series.record(0.5, "enqueue", "ok", ms / 1000, crashed=False)
    series.close()
    row = json.loads((tmp_path / "timeseries.jsonl").read_text())
    assert (row["p50_ms"], row["p95_ms"], row["p99_ms"], row["max_ms"]) == (50, 95, 99, 100)


def test_only_the_current_second_keeps_its_latencies():
    series = TimeSeries(io.StringIO())
    for i in range(10_000):
        series.record(i / 100, "enqueue", "ok", 0.001, crashed=False)
    assert len(series._latencies) <= 100  # one second's worth, not the run's
    assert series.total == 10_000


def test_counts_per_kind_and_outcome_and_crashes_cover_the_whole_run():
    series = TimeSeries()
    series.record(0.1, "enqueue", "ok", 0.001, crashed=False)
    series.record(5.1, "enqueue", "unknown", 0.001, crashed=True)
    assert series.by_kind == {("enqueue", "ok"): 1, ("enqueue", "unknown"): 1}
    assert series.crashed == 1


def test_the_whole_run_histogram_overestimates_a_percentile_by_less_than_a_bucket():
    histogram = LogHistogram()
    values = [i / 10_000 for i in range(1, 1001)]  # 0.1 ms .. 100 ms
    for value in values:
        histogram.add(value)
    exact = percentile(sorted(values), 99)
    assert exact <= histogram.quantile(99) <= exact * 10 ** 0.1 + 1e-12
