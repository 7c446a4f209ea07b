"""The nemesis: a thread that opens and closes the schedule's fault windows on the proxy.

Each window is applied (toxics added, or the proxy disabled), held until its end, then
healed with Toxiproxy's reset (every toxic removed, the proxy enabled again). What was
really applied, and when, is recorded: a report shades the windows that happened, not the
ones that were planned. A ToxiproxyError stops the nemesis and is kept for the run to
report as infrastructure; it is never swallowed.

A failover window (on a primary with a replica) lags or cuts the replication link when it
opens and, when it closes, promotes the replica before the heal: what the old primary
acknowledged in the window and never sent on is gone, as in a real failover. The record
(offsets, bytes never replicated) stays with the applied window.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.errors import InfrastructureError, UsageError
from harness.nightly.schedule import Schedule, Window
from harness.replication import FailoverRecord, ReplicatedServices
from harness.toxiproxy import ToxiproxyControl


@dataclass
class AppliedWindow:
    window: Window
    started_at: float  # seconds on the run's clock
    ended_at: float | None = None
    failover: FailoverRecord | None = None  # the promotion that closed a failover window

    def to_json(self) -> dict[str, Any]:
        ended = self.ended_at if self.ended_at is not None else self.started_at
        data = self.window.to_json() | {
            "applied_start": round(self.started_at, 3),
            "applied_end": round(ended, 3),
        }
        if self.failover is not None:
            data["failover"] = self.failover.to_json()
        return data


class Nemesis(threading.Thread):
    """Plays a schedule against one proxy, on the run's clock, until done or stopped."""

    def __init__(
        self,
        control: ToxiproxyControl,
        proxy_name: str,
        schedule: Schedule,
        clock: Callable[[], float],
        stop: threading.Event,
        *,
        replication: ReplicatedServices | None = None,
    ) -> None:
        if replication is None and any(w.fails_over for w in schedule.windows):
            raise UsageError("a schedule with failover windows needs a primary and a replica "
                             "(harness.replication.replicated_services)")
        super().__init__(name="nemesis", daemon=True)
        self.control = control
        self.proxy_name = proxy_name
        self.schedule = schedule
        self.clock = clock
        self.stop = stop
        self.replication = replication
        self.applied: list[AppliedWindow] = []
        self.active: Window | None = None  # read by the workload to label its operations
        self.error: InfrastructureError | None = None
        self.failed = threading.Event()

    def active_label(self) -> str | None:
        window = self.active
        return f"nemesis:{window.label}" if window is not None else None

    def run(self) -> None:
        try:
            for window in self.schedule.windows:
                if self.stop.wait(max(0.0, window.start - self.clock())):
                    return
                self._open(window)
                self.stop.wait(max(0.0, window.end - self.clock()))
                self._close()
        except InfrastructureError as exc:  # Toxiproxy, or a server refusing its role
            self.error = exc
            self.failed.set()

    def _open(self, window: Window) -> None:
        self.active = window
        self.applied.append(AppliedWindow(window, self.clock()))
        if window.proxy_down:
            self.control.set_enabled(self.proxy_name, False)
        for toxic in window.toxics:
            self.control.add_toxic(self.proxy_name, toxic)
        if window.link is not None and self.replication is not None:
            if window.link.cut:
                self.replication.cut_link()
            else:
                self.replication.lag(window.link.lag_ms)

    def _close(self) -> None:
        window = self.applied[-1].window
        if window.fails_over and self.replication is not None:
            self.applied[-1].failover = self.replication.failover(self.clock)
        self.control.reset()  # the link too: the demoted primary resyncs from the new one
        self.applied[-1].ended_at = self.clock()
        self.active = None

    def heal(self) -> None:
        """After the run (the thread has stopped): nothing left applied, the last window closed."""
        self.control.reset()
        if self.applied and self.applied[-1].ended_at is None:
            self.applied[-1].ended_at = self.clock()
        self.active = None
