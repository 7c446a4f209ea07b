"""A JUnit XML file as Markdown for a CI job summary: counts, then each failed case.

    python examples/ci/junit_summary.py reports/gate/junit.xml >> "$GITHUB_STEP_SUMMARY"

Standard library only, so it runs before (or without) the project's own environment. A
missing file (the run stopped before writing it) is said, not raised: the summary step
must never hide the run's own exit code behind its own failure.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def cell(text: str) -> str:
    """One Markdown table cell: one line, no pipe."""
    return " ".join(text.split()).replace("|", "\\|")


def summary(path: Path) -> str:
    if not path.is_file():
        return f"### {path}\n\nNo JUnit report: the run ended before writing one.\n"
    root = ET.parse(path).getroot()
    cases = root.findall(".//testcase")
    failed = [c for c in cases if c.find("failure") is not None or c.find("error") is not None]
    skipped = [c for c in cases if c.find("skipped") is not None]
    title = root.get("name") or path.name
    verdict = "FAIL" if failed else "PASS"
    lines = [f"### {title}: {verdict}", "",
             f"{len(cases)} cases, {len(failed)} failed, {len(skipped)} skipped", ""]
    if failed:
        lines += ["| case | message |", "| --- | --- |"]
        for case in failed:
            problem = case.find("failure")
            if problem is None:
                problem = case.find("error")
            message = problem.get("message", "") if problem is not None else ""
            lines.append(f"| {cell(case.get('name', ''))} | {cell(message)} |")
        lines.append("")
    return "\n".join(lines)


def main(paths: list[str]) -> int:
    if not paths:
        print("usage: junit_summary.py JUNIT.xml [...]", file=sys.stderr)
        return 2
    print("\n".join(summary(Path(p)) for p in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
