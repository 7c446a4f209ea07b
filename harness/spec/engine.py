"""Candidate states of a system under a history with unknown outcomes (Knossos's idea, kept small).

A `Model` says, for one state and one completed operation, which states may follow and what
each would mean: an operation that ended ok has the successors whose promised answer is the
one observed; an unknown one has "it never happened" as well as "it took effect" (entirely:
a partial effect matches no branch); a definite failure has the state unchanged. An
observation of the whole state (a snapshot) keeps the candidates it agrees with.

`Candidates` holds the surviving branches. A branch that contradicts what was seen is not
dropped while it is the best explanation left: each branch carries the problems (broken
promises) found on its way, the ones with none are preferred, and when none is free of
problems the nearest ones are kept and their problems reported, once. So a defect is
reported at the first operation that shows it, and the judging goes on from the state Redis
really holds (the model re-anchors on it) instead of repeating itself at every later step.

The number of branches is bounded: past `bound` the candidates are not judged any further
and `undetermined` says why (a clear note, never a crash and never a silent pass).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from harness.spec.linearize import linearizations

S = TypeVar("S")
O_contra = TypeVar("O_contra", contravariant=True)

DEFAULT_BOUND = 64  # candidate states kept at most; the sequential machine needs 1 or 2


@dataclass(frozen=True)
class Problem:
    """A promise the observed behaviour breaks, in the words of the invariant it belongs to."""

    invariant: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict, compare=False)
    operations: tuple[int, ...] = ()


@dataclass(frozen=True)
class Branch(Generic[S]):
    """One candidate state, the problems met reaching it, and the choices that made it.

    `suspect` problems count only if an observation settles on this branch: an unknown
    dequeue that may have leased any pending job keeps a branch per job, the one off the
    head carrying a queue_order problem that is real only if Redis shows that job leased.
    """

    state: S
    problems: tuple[Problem, ...] = ()
    choices: tuple[str, ...] = ()  # "#3 took effect", "#3 never happened", ...
    suspect: tuple[Problem, ...] = ()

    def with_problems(self, problems: Sequence[Problem]) -> Branch[S]:
        return Branch(self.state, self.problems + tuple(problems), self.choices, self.suspect)


class Model(Protocol[S, O_contra]):
    """What a system promises, as a function from (state, operation) to candidate states."""

    def successors(self, branch: Branch[S], op: Any) -> list[Branch[S]]:
        """Every state the contract allows after `op` (an Operation that completed)."""
        ...

    def observe(self, branch: Branch[S], observation: O_contra) -> list[Branch[S]]:
        """The branch refined by what was observed (ids bound, times pinned), with a Problem
        for every difference; several branches when the observation leaves a choice."""
        ...

    def adopt(self, branch: Branch[S], observation: O_contra) -> S:
        """The state the observation shows, keeping what `branch` knows beyond it: after a
        reported mismatch, judging goes on from what Redis really holds."""
        ...

    def key(self, state: S) -> Hashable:
        """Equal keys for states that no later observation can tell apart."""
        ...


class Candidates(Generic[S]):
    """The branches that explain the history so far."""

    def __init__(self, model: Model[S, Any], initial: S, bound: int = DEFAULT_BOUND) -> None:
        self.model = model
        self.bound = bound
        self.branches: list[Branch[S]] = [Branch(initial)]
        self.undetermined: str | None = None  # why judging stopped, if it did
        self.largest = 1  # the most branches held at once (before pruning by observation)

    @property
    def judging(self) -> bool:
        return self.undetermined is None

    def apply(self, op: Any) -> list[Problem]:
        """Step every branch through `op`; the problems of the best explanation, if any."""
        if not self.judging:
            return []
        stepped = [nxt for branch in self.branches for nxt in self.model.successors(branch, op)]
        problems = self._settle(stepped, observed=False)
        if len(self.branches) > self.bound:
            self.undetermined = (
                f"after #{getattr(op, 'index', '?')} {len(self.branches)} candidate states "
                f"remain, more than the bound of {self.bound}: the spec judges no further")
        return problems

    def apply_overlapping(self, ops: Sequence[Any]) -> list[Problem]:
        """Step every branch through `ops`, which overlapped in time, in every order real
        time allows (harness.spec.linearize); the problems of the best explanation, if any."""
        if not self.judging:
            return []
        stepped, why = linearizations(self.branches, ops, self.model.successors,
                                      self.model.key, self.bound)
        if why is not None:
            self.undetermined = f"{why}: the spec judges no further"
            return []
        return self._settle(stepped, observed=False)

    def observe(self, observation: Any) -> list[Problem]:
        """Keep the branches the observation agrees with; on none, report the nearest and
        go on from the observed state."""
        if not self.judging:
            return []
        refined = [nxt for branch in self.branches
                   for nxt in self.model.observe(branch, observation)]
        problems = self._settle(refined, observed=True)
        if problems:
            nearest = self.branches[0]
            self.branches = [Branch(self.model.adopt(nearest, observation))]
        else:  # the choices are settled by what was seen: forget them (memory stays flat)
            self.branches = [Branch(b.state) for b in self.branches]
        return problems

    def _settle(self, branches: list[Branch[S]], observed: bool) -> list[Problem]:
        """Keep the branches with the fewest problems (deduplicated); report theirs. Suspect
        problems weigh only once an observation has been compared (`observed`)."""
        self.largest = max(self.largest, len(branches))
        if not branches:  # a model must always offer something; treat as nothing learnt
            return []

        def weight(branch: Branch[S]) -> tuple[int, int]:
            return (len(branch.problems), len(branch.suspect) if observed else 0)

        fewest = min(weight(b) for b in branches)
        unique: dict[Hashable, Branch[S]] = {}
        for branch in sorted((b for b in branches if weight(b) == fewest),
                             key=lambda b: len(b.suspect)):
            unique.setdefault(self.model.key(branch.state), branch)
        kept = list(unique.values())
        problems = list(kept[0].problems) + (list(kept[0].suspect) if observed else [])
        self.branches = [Branch(b.state, (), b.choices, () if observed else b.suspect)
                         for b in kept]
        return problems
