"""What every single-defect variant is built from: the catalogue entry, and a script changed
in one place (so a variant's script cannot drift from the reference's)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import redis
from prometheus_client import CollectorRegistry

from harness.target import TargetFactory
from queue_impl.reference import ReferenceQueue, lua_prelude


@dataclass(frozen=True)
class Variant:
    id: str  # the review's finding id, or QC-n for one the review missed
    name: str
    defect: str
    factory: TargetFactory
    module: str = "queue_impl.variants"  # where its make_<name> factory lives

    @property
    def spec(self) -> str:
        """The "module:factory" string the harness loads it by."""
        return f"{self.module}:make_{self.name.replace('-', '_')}"


def catalogue(*variants: Variant) -> dict[str, Variant]:
    """Variants by id, in the order given (the `variant:ID` target family reads it)."""
    return {variant.id: variant for variant in variants}


class ScriptVariant(ReferenceQueue):
    """The reference with one of its scripts replaced: `script` is (the attribute that holds
    it, e.g. "_dequeue"; the variant's source, run after the Lua prelude)."""

    script: ClassVar[tuple[str, str]]

    def __init__(self, client: redis.Redis, registry: CollectorRegistry) -> None:
        super().__init__(client, registry)
        attribute, source = self.script
        setattr(self, attribute, self._script(lua_prelude(self.key_schema) + source))


def defective(script: str, correct: str, wrong: str) -> str:
    """The reference's `script` with its one piece `correct` replaced by `wrong`.

    `correct` must occur exactly once, so a change to the reference fails loudly here
    instead of leaving a variant that is silently correct (or doubly wrong).
    """
    if script.count(correct) != 1:
        raise ValueError(f"{correct!r} occurs {script.count(correct)} times in the script, "
                         "not once: the reference changed, update the variant")
    return script.replace(correct, wrong)
