"""Job-queue targets by name for the commands: `--target rq` -> the rq adapter's factory.

The names come from the `queue_chaos.job_queues` entry points (pyproject), as the
dual-write names come from `queue_chaos.targets`: the lower layers never import an
adapter. An adapter needs its library, an optional extra: when it is missing the command
says which extra to install (exit 2), before any server starts.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from harness.errors import UsageError
from harness.job_queue_target import JobQueueFactory

JOB_QUEUE_GROUP = "queue_chaos.job_queues"


def job_queue_aliases() -> dict[str, str]:
    """Every named job-queue target the installed packages declare."""
    return {ep.name: ep.value for ep in entry_points(group=JOB_QUEUE_GROUP)}


def load_job_queue_factory(spec: str) -> JobQueueFactory:
    """The factory a job-queue target names (an alias or module:factory); a UsageError
    naming the extra to install when the library it adapts is missing."""
    aliases = job_queue_aliases()
    resolved = aliases.get(spec, spec)
    module_name, sep, attr = resolved.partition(":")
    if not sep or not module_name or not attr:
        raise UsageError(f"bad job-queue target {spec!r}: give one of {', '.join(aliases)} "
                         "or module:factory")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and not module_name.startswith(exc.name):  # the library, not the adapter
            extra = f"'queue-chaos[{spec}]'" if spec in aliases else exc.name
            raise UsageError(f"target {spec!r} needs {exc.name}, which is not installed: "
                             f"pip install {extra}") from exc
        raise UsageError(f"job-queue target {spec!r}: module {module_name!r} does not "
                         f"import ({exc})") from exc
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise UsageError(f"job-queue target {spec!r}: {module_name} has no callable {attr!r}")
    return factory
