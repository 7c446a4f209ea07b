"""Running `queue-chaos` in tests: in process against the session's servers, or as a command.

In process, `--backend compose` points the command at servers already running (the session's
qc_services), so a test pays for its scenarios only, not for starting servers.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness.cli import main
from harness.servers.services import Services

QUEUE_CHAOS = Path(sys.executable).with_name("queue-chaos")  # the installed console script
DATA = Path(__file__).parent / "data"


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def compose_flags(services: Services) -> list[str]:
    """Servers flags that make a command use `services` as they are (and empty that Redis).

    It is emptied now too: the command then finds nothing there to warn about emptying.
    """
    services.flush()
    return ["--backend", "compose", "--redis-url", f"redis://{services.redis}/0",
            "--toxiproxy-url", services.control.url, "--proxy-listen", str(services.proxy),
            "--proxy-upstream", str(services.redis), "--allow-flush"]


def compose_env(services: Services) -> dict[str, str]:
    """The same as compose_flags, as the QUEUE_CHAOS_* variables (for a pytest of a team's)."""
    flags = compose_flags(services)
    env = {f"QUEUE_CHAOS_{flag[2:].upper().replace('-', '_')}": value
           for flag, value in zip(flags[:-1:2], flags[1::2], strict=True)}
    return {**env, "QUEUE_CHAOS_ALLOW_FLUSH": "1"}


def run_cli(*args: str) -> Run:
    """harness.cli.main in this process, its output captured."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return Run(code, out.getvalue(), err.getvalue())


def run_command(argv: list[str | Path], *, cwd: Path | None = None,
                pythonpath: Path | None = None, env: dict[str, str] | None = None,
                timeout: float = 120) -> Run:
    """A real command in a child process (`pythonpath` goes first on PYTHONPATH)."""
    environ = {**os.environ, **(env or {})}
    if pythonpath is not None:
        environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(pythonpath), environ.get("PYTHONPATH", "")) if p)
    done = subprocess.run([str(a) for a in argv], cwd=cwd, env=environ, capture_output=True,
                          text=True, timeout=timeout, check=False)
    return Run(done.returncode, done.stdout, done.stderr)


def default_sigint() -> None:
    """preexec_fn of a child the test will signal: a test run started in the background
    (nohup, `&`, some CI runners) ignores SIGINT, and its children would inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_command(argv: list[str | Path], *, pythonpath: Path | None = None,
                  env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """A command as a child to signal: default SIGINT, output captured as text."""
    environ = {**os.environ, **(env or {})}
    if pythonpath is not None:
        environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(pythonpath), environ.get("PYTHONPATH", "")) if p)
    return subprocess.Popen([str(a) for a in argv], env=environ, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=default_sigint)  # noqa: PLW1509 - no threads run here


def signal_when(child: subprocess.Popen[str], ready: Path, signum: int, *,
                after: float = 0.0, timeout: float = 60.0) -> Run:
    """Send `signum` `after` seconds once the file `ready` exists; the child's end."""
    deadline = time.monotonic() + timeout
    try:
        while not ready.exists():
            if child.poll() is not None or time.monotonic() > deadline:
                out, err = child.communicate()
                raise AssertionError(f"the child never got ready ({child.returncode}):\n"
                                     f"{out}{err}")
            time.sleep(0.02)
        time.sleep(after)
        child.send_signal(signum)
        out, err = child.communicate(timeout=timeout)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    return Run(child.returncode, out, err)


def assert_one_line_error(run: Run, code: int, *phrases: str) -> None:
    """The command ended with `code`, printed nothing on stdout and one error line on stderr
    holding every phrase."""
    assert run.code == code, run.out + run.err
    assert run.out == ""
    lines = run.err.splitlines()
    assert len(lines) == 1, run.err
    assert lines[0].startswith("queue-chaos: error: ")
    for phrase in phrases:
        assert phrase in lines[0]


def gate_table(out: str) -> dict[str, dict[str, str]]:
    """The gate's table, {id: {column: cell}}, cut at the columns its rule line marks."""
    lines = table_text(out).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("id "))
    header, rule = lines[start], lines[start + 1]
    spans, col = [], 0
    for dashes in rule.split("  "):
        spans.append((col, col + len(dashes)))
        col += len(dashes) + 2
    names = [header[a:b].strip() or "blocks" for a, b in spans]
    return {cells[0]: dict(zip(names, cells, strict=True))
            for cells in ([line[a:b].strip() for a, b in spans] for line in lines[start + 2:])}


def table_text(out: str) -> str:
    """The gate's header line and table as printed, up to the first blank line."""
    return out.split("\n\n", 1)[0]
