"""Child server processes that cannot outlive the run that started them.

Three layers make sure of it: the context manager stops the process on any exit path;
SIGTERM/SIGHUP raise `Terminated` so those paths run; and PR_SET_PDEATHSIG makes the kernel
kill the child if our process dies without cleaning up (kill -9, a crash).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from harness.errors import InfrastructureError

_PR_SET_PDEATHSIG = 1
_live: set[ManagedProcess] = set()
_live_lock = threading.Lock()


# Loaded once, in the parent: a dlopen in the child (between fork and exec) can deadlock on
# a loader lock that another thread held at fork time.
try:
    _LIBC: ctypes.CDLL | None = ctypes.CDLL("libc.so.6", use_errno=True)
except OSError:  # not Linux: the context manager and signal handlers still apply
    _LIBC = None


def _die_with_parent(parent_pid: int) -> None:  # runs in the child between fork and exec
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl: no signal will come
            os._exit(1)
    os.setpgrp()  # Ctrl-C in a terminal reaches us, not the servers: we stop them in order


PORT_TAKEN = "address already in use"


class PortTaken(InfrastructureError):
    """The free port a server was given was taken before it could listen (another run's)."""


class ManagedProcess:
    """One server process, its log file, and a stop() that always reaps it."""

    def __init__(self, name: str, argv: Sequence[str], log_dir: Path | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        directory = log_dir or Path(tempfile.gettempdir())
        self.log_path = directory / f"queue-chaos-{name}-{os.getpid()}-{id(self):x}.log"
        self._log = self.log_path.open("wb")
        try:
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                preexec_fn=functools.partial(_die_with_parent, os.getpid()),  # noqa: PLW1509
                close_fds=True,
            )
        except OSError as exc:
            self._log.close()
            raise InfrastructureError(f"cannot start {name} ({self.argv[0]}): {exc}") from exc
        with _live_lock:
            _live.add(self)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 5) -> str:
        self._log.flush()
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])

    def wait_ready(self, probe: Callable[[], bool], timeout: float = 10.0) -> None:
        """Poll `probe` until it answers True; the process dying first is an error at once."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                if PORT_TAKEN in self.log_tail().lower():
                    raise PortTaken(f"{self.name} could not listen: {self.log_tail()}")
                raise InfrastructureError(
                    f"{self.name} exited with code {self.popen.returncode} while starting: "
                    f"{self.log_tail()}"
                )
            if probe():
                return
            if PORT_TAKEN in self.log_tail().lower():
                raise PortTaken(f"{self.name} could not listen: {self.log_tail()}")
            time.sleep(0.02)
        raise InfrastructureError(
            f"{self.name} did not answer within {timeout:.0f} s: {self.log_tail()}"
        )

    def stop(self, grace: float = 3.0) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds; always reaps. Idempotent."""
        with _live_lock:
            _live.discard(self)
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.terminate()
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.popen.kill()
                self.popen.wait()
        self._log.close()
        with contextlib.suppress(OSError):
            self.log_path.unlink()

    def kill(self) -> None:
        """Kill at once, as a crash would (for tests of the harness's own error paths)."""
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()


def live_processes() -> list[ManagedProcess]:
    with _live_lock:
        return list(_live)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP (a CI cancel, a closed terminal): stop as Ctrl-C stops.

    A KeyboardInterrupt, so every path that stops cleanly on Ctrl-C stops on it too:
    Hypothesis ends at once (a SystemExit it would take for a failure, shrink and replay),
    a nightly run writes its report. The shell's code for it is 128 + the signal.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


# Interrupts Python dropped: a signal handler's exception raised while a gc callback ran
# (Hypothesis times garbage collection with one) is printed and discarded, and the run went
# on as if no signal had come: a cancelled gate once finished with its verdict.
_dropped: list[KeyboardInterrupt] = []


def _keep_dropped_interrupts(hook: Callable[[Any], None]) -> Callable[[Any], None]:
    def unraisable(report: Any) -> None:
        if isinstance(report.exc_value, KeyboardInterrupt):
            _dropped.append(report.exc_value)
            return
        hook(report)
    return unraisable


def raise_if_interrupted() -> None:
    """Raise again a Ctrl-C or Terminated that Python dropped (see _dropped): called
    between operations, so a run stops at the next one instead of going on."""
    if _dropped:
        raise _dropped.pop()


@contextlib.contextmanager
def terminate_on_signals(exit_when_uncaught: bool = True) -> Iterator[None]:
    """Make SIGTERM and SIGHUP raise Terminated, so every `with` block unwinds and stops its
    servers.

    Only installed from the main thread, and only over the default handler (pytest and
    other hosts keep theirs). When it installed them and a Terminated reaches it, it
    exits with 128 + the signal (unless `exit_when_uncaught` is False: a caller that
    handles Terminated itself), so a program that does not catch it ends as the shell
    expects. SIGINT already raises KeyboardInterrupt.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, _frame: object) -> None:
        raise Terminated(signum)

    previous = {}
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) in (signal.SIG_DFL, None):
            previous[signum] = signal.signal(signum, _raise)
    hook, sys.unraisablehook = sys.unraisablehook, _keep_dropped_interrupts(sys.unraisablehook)
    try:
        yield
        raise_if_interrupted()  # one dropped after the last operation
    except Terminated as exc:
        if previous and exit_when_uncaught:
            raise SystemExit(exc.exit_code) from exc
        raise
    finally:
        sys.unraisablehook = hook
        _dropped.clear()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
