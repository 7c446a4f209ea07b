"""What a nightly run costs: throughput with and without the nemesis, the harness's own cost
per operation, and peak memory for a short budget and a five times longer one.

Measured in one run on the local backend (real redis-server and toxiproxy-server):
  - the workload (3 producers, 3 workers) for --budget seconds without faults, then the
    same with the seeded nemesis: operations per second and their ratio;
  - the bookkeeping per operation (history line, checker, time series, metrics) as thread
    CPU time during those runs, next to the target's own client-side CPU per operation, and
    the same bookkeeping alone on one thread against a target that does nothing;
  - peak memory (Python heap by tracemalloc, and the process's peak RSS) of a run of
    --short seconds and of one 5x longer, each in a fresh interpreter.

  python -m benchmarks nightly [--budget 10] [--short 4] [--target reference]
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import resource
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.checker import Checker
from harness.history import History, Operation, OpKind, Outcome
from harness.nightly.recorder import Recorder
from harness.nightly.run import NightlyOptions, NightlyResult, NightlyRun
from harness.nightly.timeseries import TimeSeries
from harness.report.metrics import RunMetrics
from harness.servers.config import ServicesConfig
from harness.servers.services import open_services
from harness.target import DEFAULT_SCHEMA

BOOKKEEPING_OPS = 20_000


class HeapWatchedRun(NightlyRun):
    """Notes the Python heap's peak when the workload ends, before the drain and judgement."""

    workload_heap_peak = 0
    workload_heap_held = 0  # what the heap still holds then: no transient answers

    def _after_budget(self) -> None:
        if tracemalloc.is_tracing():
            gc.collect()
            self.workload_heap_held, self.workload_heap_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
        super()._after_budget()


def run_once(options: NightlyOptions, run_class: type[NightlyRun] = NightlyRun) -> NightlyRun:
    with tempfile.TemporaryDirectory(prefix="bench-nightly-") as out, \
            open_services(ServicesConfig(backend="local")) as services:
        run = run_class(options, services, Path(out))
        result = run.execute()
        if result.infrastructure:
            raise SystemExit(f"infrastructure failed: {result.infrastructure}")
        return run


def _per_op_us(seconds: float, ops: int) -> float:
    return seconds / ops * 1e6 if ops else 0.0


def _throughput(result: NightlyResult) -> float:
    assert result.series is not None
    return result.series.total / result.workload_seconds


def _memory_child(budget: float, target: str, queue: Any) -> None:
    """In a fresh interpreter: one run, its peak Python heap and the process's peak RSS."""
    tracemalloc.start()
    run = run_once(NightlyOptions(budget=budget, target=target, seed=1, machine=False),
                   HeapWatchedRun)
    _, judge_peak = tracemalloc.get_traced_memory()
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = run.result
    assert result.series is not None
    queue.put({"ops": result.series.total, "jobs": result.summary.get("attempted", 0),
               "workload_mib": run.workload_heap_peak / 2**20,
               "held_mib": run.workload_heap_held / 2**20,
               "judge_mib": judge_peak / 2**20, "rss_mib": rss_kib / 1024})


def peak_memory(budget: float, target: str) -> dict[str, float]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_memory_child, args=(budget, target, queue))
    child.start()
    figures = queue.get(timeout=budget * 10 + 120)
    child.join()
    return figures


def bookkeeping_alone(ops: int = BOOKKEEPING_OPS) -> dict[str, float]:
    """The harness's cost per enqueue on one thread, whole and by part, for a no-op target."""
    with tempfile.TemporaryDirectory(prefix="bench-nightly-") as out:
        history = History.to_file(Path(out) / "history.jsonl")
        series = TimeSeries.to_file(Path(out) / "timeseries.jsonl")
        checker, metrics = Checker(DEFAULT_SCHEMA, None), RunMetrics()
        recorder = Recorder(history, checker, series, metrics)
        requests = iter(range(10 * ops))

        def fresh() -> tuple[dict[str, Any], str]:
            n = next(requests)
            return ({"workspace_id": "ws-a", "payload": {"n": n}, "client_request_id": f"r{n}"},
                    uuid.uuid4().hex)

        calls = [fresh() for _ in range(ops)]
        started = time.process_time()
        for args, job_id in calls:
            recorder.call("p", OpKind.ENQUEUE, args, lambda job_id=job_id: job_id)
        figures = {"whole": _per_op_us(time.process_time() - started, ops)}

        def history_line(args: dict[str, Any], job_id: str) -> Operation:
            return history.complete(history.invoke("p", OpKind.ENQUEUE, args), Outcome.OK,
                                    job_id)

        parts = {
            "history line (invoke, JSON, write)": history_line,
            "checker.observe": lambda args, job_id: checker.observe(history_line(args, job_id)),
            "time series + prometheus": lambda args, job_id: (
                series.record(1.0, "enqueue", "ok", 0.001, crashed=False),
                metrics.observe_operation("enqueue", "ok", 0.001)),
        }
        for name, part in parts.items():
            calls = [fresh() for _ in range(ops // 4)]
            started = time.process_time()
            for args, job_id in calls:
                part(args, job_id)
            figures[name] = _per_op_us(time.process_time() - started, len(calls))
        figures["checker.observe"] -= figures["history line (invoke, JSON, write)"]
        history.close()
        series.close()
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks nightly",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=10.0,
                        help="seconds of workload per throughput figure (default 10)")
    parser.add_argument("--short", type=float, default=4.0,
                        help="the short budget of the memory figures; the long one is 5x")
    parser.add_argument("--target", default="reference")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)

    quiet = run_once(NightlyOptions(budget=args.budget, target=args.target, seed=args.seed,
                                    nemesis=False, machine=False)).result
    faulty = run_once(NightlyOptions(budget=args.budget, target=args.target, seed=args.seed,
                                     machine=False)).result
    alone = bookkeeping_alone()
    short = peak_memory(args.short, args.target)
    long = peak_memory(args.short * 5, args.target)

    print(f"Nightly workload: target {args.target}, 3 producers + 3 workers, local backend, "
          f"{args.budget:g} s per run")
    for label, result in (("without nemesis", quiet), ("with nemesis   ", faulty)):
        assert result.series is not None
        ops = result.series.total
        print(f"  {label}: {ops:7d} ops, {_throughput(result):7.0f} ops/s, "
              f"{len(result.applied):2d} fault windows; CPU per op: target "
              f"{_per_op_us(result.target_cpu_seconds, ops):5.0f} us, "
              f"harness {_per_op_us(result.overhead_seconds, ops):5.0f} us")
    print(f"  ratio with / without nemesis: {_throughput(faulty) / _throughput(quiet):.2f}")
    print(f"Harness bookkeeping alone (one thread, a target that does nothing, "
          f"{BOOKKEEPING_OPS} ops): {alone.pop('whole'):.0f} us per op, of which")
    for name, us in alone.items():
        print(f"    {name:32s} {us:6.1f} us")
    print("Memory, each run in a fresh interpreter under tracemalloc (which slows it): the "
          "Python heap held when the workload ends, its peak during the workload (a target's "
          "list_jobs reads every record), its peak while draining and judging (the final "
          "snapshot holds every job Redis keeps), and the process's peak RSS")
    for label, figures in ((f"{args.short:g} s", short), (f"{args.short * 5:g} s", long)):
        print(f"  budget {label:>5}: {figures['ops']:6d} ops, {figures['jobs']:5d} jobs; heap "
              f"held {figures['held_mib']:5.1f} MiB, peak {figures['workload_mib']:5.1f} MiB, "
              f"judging {figures['judge_mib']:5.1f} MiB; RSS {figures['rss_mib']:6.1f} MiB")
    ratio = {k: long[k] / short[k] if short[k] else 0.0 for k in short}
    print(f"  ratio 5x budget / 1x: RSS {ratio['rss_mib']:.2f}; heap held {ratio['held_mib']:.2f}"
          f", peak {ratio['workload_mib']:.2f}, judging {ratio['judge_mib']:.2f} "
          f"(operations {ratio['ops']:.1f}x, jobs {ratio['jobs']:.1f}x)")
    extra_jobs, extra_ops = long["jobs"] - short["jobs"], long["ops"] - short["ops"]
    if extra_jobs > 0 and extra_ops > 0:
        held = (long["held_mib"] - short["held_mib"]) * 2**20
        print(f"  heap held grows {held / extra_jobs:.0f} B per job made "
              f"({held / extra_ops:.0f} B per operation): the checker's per-request and "
              f"per-job facts; the history and time series are on disk")
    return 0
