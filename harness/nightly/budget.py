"""How long a run may take, as a person writes it: "60s", "5m", "1h30m", or plain seconds."""

from __future__ import annotations

import math
import re

from harness.errors import UsageError

_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
# A run draws its whole fault schedule up front: a day is ~27,000 windows. Longer soaks are
# several runs, each with a seed of its own.
MAX_SECONDS = 24 * 3600.0
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_duration(text: str) -> float:
    """Seconds in `text`, finite, more than zero and at most a day; a UsageError naming the
    accepted forms otherwise."""
    value = text.strip().lower()
    try:
        seconds = float(value)
    except ValueError:
        parts = _PART.findall(value)
        if not parts or "".join(n + u for n, u in parts) != value:
            raise UsageError(
                f"bad duration {text!r}: write e.g. 60s, 5m, 1h30m or a number of seconds"
            ) from None
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if not math.isfinite(seconds) or seconds <= 0:
        raise UsageError(f"bad duration {text!r}: it must be a finite time more than zero")
    if seconds > MAX_SECONDS:
        raise UsageError(f"bad duration {text!r}: at most 24h (run a longer soak as several "
                         "runs, each with its own --seed)")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest spelling parse_duration reads back to the same value (for replay commands)."""
    if seconds != int(seconds):
        return f"{seconds:g}s"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return text + (f"{secs}s" if secs or not text else "")
