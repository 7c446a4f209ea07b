"""What the state machine draws: every argument from the whole domain the contract admits,
and from beyond it.

A few fixed samples (three workspace names, payloads {"n": 0..9}) only reach the promises
someone thought of. Here ids come from the KeySchema's own patterns (`from_regex`),
payloads are any JSON object up to the size limit and past it (`recursive`), statuses,
lease lengths and clocks are drawn good and bad. The common cases stay the most likely
(three workspaces, so that operations meet the same jobs) and everything shrinks toward
the simplest value, so the printed programs stay readable.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from harness.target import FAR_FUTURE, MAX_PAYLOAD_BYTES, JobStatus, KeySchema

WORKSPACES = ("ws-a", "ws-b", "ws-c")
BAD_WORKSPACES = ("", " ", "ws:a", "ws-a\n", "w" * 200, "wörkspace", None)
# Valid ids at the edges of the default pattern: each punctuation it admits, one character,
# the longest. (A schema of its own keeps only those its pattern admits.)
EDGE_WORKSPACES = ("ws.a", "ws_a", "WS-A", "0", "w" * 64)

_TEXT = st.characters(exclude_categories=("Cs",))  # no lone surrogates: not Unicode
_SCALARS = (st.none() | st.booleans() | st.integers(-(2**63), 2**63)
            | st.floats(allow_nan=False, allow_infinity=False) | st.text(_TEXT, max_size=16))
JSON_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(_TEXT, max_size=8), inner, max_size=4),
    max_leaves=8)


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of the strategies, each `weight` times as likely; shrinks toward the first.

    (st.one_of(a, a, b) is not twice as likely to draw from a: equal branches fold into one.)
    """
    indexes = [i for i, (weight, _) in enumerate(choices) for _ in range(weight)]
    return st.sampled_from(indexes).flatmap(lambda i: choices[i][1])


def workspace_ids(schema: KeySchema) -> st.SearchStrategy[str]:
    """Mostly the three shared names (so that operations meet), sometimes a valid id at the
    edges of the pattern or any valid id."""
    edges = [w for w in EDGE_WORKSPACES if schema.valid_workspace_id(w)]
    regex = st.from_regex(schema.workspace_pattern, fullmatch=True)
    return weighted((6, st.sampled_from(WORKSPACES)),
                    (1, st.sampled_from(edges) if edges else regex), (1, regex))


def bad_workspace_ids(schema: KeySchema) -> st.SearchStrategy[Any]:
    drawn = st.text(max_size=70).filter(lambda s: not schema.valid_workspace_id(s))
    return st.one_of(st.sampled_from(BAD_WORKSPACES), drawn)


def any_workspace_ids(schema: KeySchema) -> st.SearchStrategy[Any]:
    """About one in ten is one the contract calls bad (shrinks to a good one)."""
    return weighted((9, workspace_ids(schema)), (1, bad_workspace_ids(schema)))


def request_ids(schema: KeySchema) -> st.SearchStrategy[str | None]:
    """None: the machine's next fresh id (req-1, req-2, ...); else any valid request id."""
    return weighted((4, st.none()), (1, st.from_regex(schema.request_id_pattern,
                                                      fullmatch=True)))


def job_ids(schema: KeySchema) -> st.SearchStrategy[str]:
    return st.from_regex(schema.job_id_pattern, fullmatch=True)


def bad_job_ids(schema: KeySchema) -> st.SearchStrategy[Any]:
    drawn = st.text(max_size=40).filter(lambda s: not schema.valid_job_id(s))
    return st.one_of(st.sampled_from(["", None, "0" * 31, "G" * 32, "0" * 33, 7]), drawn)


class Blob(dict):
    """A payload of one long string, printed short in a failing program."""

    def __init__(self, size: int) -> None:
        super().__init__(blob="x" * size)
        self.size = size

    def __repr__(self) -> str:
        return f"Blob({self.size})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def payloads() -> st.SearchStrategy[Any]:
    """Any JSON object, usually small; now and then at the size limit, past it, or not a
    JSON object at all."""
    small = st.dictionaries(st.text(_TEXT, max_size=10), JSON_VALUES, max_size=5)
    near_limit = st.integers(-64, 64).map(lambda d: Blob(MAX_PAYLOAD_BYTES - 12 + d))
    bad = st.one_of(
        st.sampled_from([None, [], "payload", 3, {"x": float("nan")}, {"t": (1, 2)}]),
        st.builds(lambda: {"x": {1, 2}}), st.builds(Blob, st.just(MAX_PAYLOAD_BYTES + 1)))
    return weighted((16, small), (1, near_limit), (1, bad))


def statuses() -> st.SearchStrategy[Any]:
    good = st.sampled_from([s.value for s in JobStatus])
    bad = st.sampled_from(["", "done", "RUNNING", None, "queued ", 1])
    return weighted((9, good), (1, bad))


def lease_lengths() -> st.SearchStrategy[Any]:
    """Seconds of a lease: the usual 30 s, ones over before the next step, ones that outlive
    any example, and lengths that are not. (Lengths an example's own duration could end
    are left out: whether they have ended would depend on how fast the machine runs, and a
    failing program must replay the same way.)"""
    good = weighted((4, st.just(30.0)), (1, st.floats(min_value=0.0001, max_value=0.001)),
                    (1, st.floats(min_value=120, max_value=1e6)), (1, st.integers(120, 10**6)))
    bad = st.sampled_from([0, -1, -0.5, None, "30", True, float("nan"), float("inf")])
    return weighted((9, good), (1, bad))


def clocks() -> st.SearchStrategy[Any]:
    """`now` for requeue_expired: the wall clock (None), before every lease, after every
    lease, any time, and values that are not a clock."""
    good = st.one_of(st.none(), st.just(0.0), st.just(FAR_FUTURE),
                     st.floats(min_value=0, max_value=FAR_FUTURE))
    bad = st.sampled_from(["now", True, float("nan"), float("inf"), [1.0]])
    return weighted((9, good), (1, bad))
