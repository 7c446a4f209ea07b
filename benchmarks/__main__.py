"""Run every benchmark (`python -m benchmarks`) or one (`python -m benchmarks NAME ARGS...`)."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Sequence
from pathlib import Path

PREFIX = "bench_"


def benchmark_names() -> list[str]:
    here = str(Path(__file__).parent)
    return sorted(m.name.removeprefix(PREFIX) for m in pkgutil.iter_modules([here])
                  if m.name.startswith(PREFIX))


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    names = benchmark_names()
    if args[:1] in (["-h"], ["--help"]):
        print("usage: python -m benchmarks [NAME [ARGS...]]\n\nRuns every benchmark, or the one "
              "named (NAME --help for its own options): " + ", ".join(names))
        return 0
    if args and not args[0].startswith("-"):
        name, rest = args[0].removeprefix(PREFIX), args[1:]
        if name not in names:
            print(f"unknown benchmark {name!r}: choose one of {', '.join(names)}",
                  file=sys.stderr)
            return 2
        return int(importlib.import_module(f"benchmarks.{PREFIX}{name}").main(rest))
    worst = 0
    for name in names:
        worst = max(worst, int(importlib.import_module(f"benchmarks.{PREFIX}{name}").main(args)))
    return worst


if __name__ == "__main__":
    sys.exit(main())
