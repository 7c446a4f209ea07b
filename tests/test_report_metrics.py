"""metrics.prom: Prometheus text format that prometheus-client's own parser reads back."""

import http.server
import threading
from typing import ClassVar

import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.report.metrics import PREFIX, PUSH_JOB, RunMetrics


def _a_run() -> RunMetrics:
    metrics = RunMetrics()
    metrics.observe_operation("enqueue", "ok", 0.003)
    metrics.observe_operation("enqueue", "unknown", 0.5)
    metrics.observe_window(["latency", "bandwidth"], 2.5)
    metrics.set_outcome("violated", violations_per_invariant={"no_lost_jobs": 3},
                        jobs={"attempted": 10, "lost": 3}, duration=60.2, budget=60.0, seed=7)
    return metrics


def _samples(path):
    families = text_string_to_metric_families(path.read_text())
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in families for s in family.samples}


def test_metrics_prom_parses_back_with_every_figure(tmp_path):
    _a_run().write(tmp_path / "metrics.prom")
    samples = _samples(tmp_path / "metrics.prom")
    assert samples[(f"{PREFIX}_operations_total",
                    (("kind", "enqueue"), ("outcome", "unknown")))] == 1
    assert samples[(f"{PREFIX}_fault_windows_total", (("kind", "bandwidth"),))] == 1
    assert samples[(f"{PREFIX}_fault_seconds_total", (("kind", "latency"),))] == 2.5
    assert samples[(f"{PREFIX}_violations",
                    (("invariant", "no_lost_jobs"), ("severity", "CRITICAL")))] == 3
    assert samples[(f"{PREFIX}_jobs", (("category", "lost"),))] == 3
    assert samples[(f"{PREFIX}_verdict", (("status", "violated"),))] == 1
    assert samples[(f"{PREFIX}_verdict", (("status", "holds"),))] == 0


def test_an_invariant_that_held_is_exported_as_zero_so_alerts_can_compare(tmp_path):
    _a_run().write(tmp_path / "metrics.prom")
    samples = _samples(tmp_path / "metrics.prom")
    assert samples[(f"{PREFIX}_violations",
                    (("invariant", "no_duplicates"), ("severity", "HIGH")))] == 0


def test_latency_is_a_histogram_with_buckets(tmp_path):
    _a_run().write(tmp_path / "metrics.prom")
    families = {f.name: f for f in
                text_string_to_metric_families((tmp_path / "metrics.prom").read_text())}
    histogram = families[f"{PREFIX}_operation_latency_seconds"]
    assert histogram.type == "histogram"
    count = next(s for s in histogram.samples if s.name.endswith("_count"))
    assert count.value == 2


class _Gateway(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str, bytes]]] = []

    def _take(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.received.append((self.command, self.path, body))
        self.send_response(200)
        self.end_headers()

    do_POST = do_PUT = _take

    def log_message(self, *args):
        pass


@pytest.fixture
def gateway():
    _Gateway.received = []
    server = http.server.HTTPServer(("127.0.0.1", 0), _Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", _Gateway.received
    server.shutdown()
    server.server_close()


def test_a_push_adds_to_the_job_and_target_group_of_a_pushgateway(gateway):
    url, received = gateway
    _a_run().push(url, target="phase1")
    ((method, path, body),) = received
    assert method == "POST"  # pushadd: replaces only these metric names
    assert path == f"/metrics/job/{PUSH_JOB}/target/phase1"
    assert f"{PREFIX}_operations_total".encode() in body
