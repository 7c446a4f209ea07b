"""The minimal trace of a violation: the operations it names, and those on the same job.

The history of a long run lives only on disk (history.jsonl, in completion order), so the
traces of all violations are gathered in one scan per round: the first round finds the
operations a violation names (by index) and any operation on a job id its evidence shows;
a second round adds the operations on the request ids and job ids those operations carry
(the first attempt of an enqueue, the dequeue of a job). A line is parsed only when a
regular expression finds one of the wanted tokens in it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_TRACE = 30  # operations per violation
_JOB_ID = re.compile(r"\b[0-9a-f]{32}\b")


@dataclass
class _Wanted:
    indexes: set[int]
    ids: set[str] = field(default_factory=set)  # job ids and request ids
    found: dict[int, dict[str, Any]] = field(default_factory=dict)


def _ids_of(op: dict[str, Any]) -> set[str]:
    """The job ids and request ids an operation is about (what it was given and what it got)."""
    ids: set[str] = set()
    args = op.get("args") or {}
    for key in ("job_id", "client_request_id"):
        if isinstance(args.get(key), str) and args[key]:
            ids.add(args[key])
    value = op.get("value")
    if isinstance(value, str) and _JOB_ID.fullmatch(value):
        ids.add(value)
    elif isinstance(value, dict):
        ids.update(v for k, v in value.items()
                   if k in ("job_id", "client_request_id") and isinstance(v, str) and v)
    return ids


def _relates(op: dict[str, Any], wanted: _Wanted) -> bool:
    return op.get("index") in wanted.indexes or bool(_ids_of(op) & wanted.ids)


def _scan(history: Path, wanted: Sequence[_Wanted]) -> None:
    tokens = {f'"index": {i},' for w in wanted for i in w.indexes}
    tokens |= {f'"{token}"' for w in wanted for token in w.ids}
    if not tokens:
        return
    pattern = re.compile("|".join(re.escape(t) for t in sorted(tokens)))
    with history.open(encoding="utf-8") as handle:
        for line in handle:
            if not pattern.search(line):
                continue
            op = json.loads(line)
            for w in wanted:
                if _relates(op, w):
                    w.found[op["index"]] = op


def _trim(w: _Wanted, limit: int) -> list[dict[str, Any]]:
    named = [op for i, op in w.found.items() if i in w.indexes]
    related = [op for i, op in sorted(w.found.items()) if i not in w.indexes]
    keep = named + related[: max(0, limit - len(named))]
    return sorted(keep, key=lambda op: op["index"])


def minimal_traces(
    history: Path,
    violations: Iterable[tuple[Sequence[int], Any]],
    limit: int = MAX_TRACE,
) -> list[list[dict[str, Any]]]:
    """For each (operation indexes, evidence): the trace, in invocation order."""
    wanted = [
        _Wanted(set(indexes), set(_JOB_ID.findall(json.dumps(evidence, default=str))))
        for indexes, evidence in violations
    ]
    if not history.exists():
        return [[] for _ in wanted]
    _scan(history, wanted)
    # Second round: what the operations found so far are about (request ids, job ids).
    grown = False
    for w in wanted:
        more = set().union(*(_ids_of(op) for op in w.found.values())) - w.ids
        if more:
            w.ids |= more
            grown = True
    if grown:
        _scan(history, wanted)
    return [_trim(w, limit) for w in wanted]
