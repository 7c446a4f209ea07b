"""A small JUnit XML writer that CI systems (GitHub, GitLab, Jenkins) read as test results.

One testsuite, one testcase per judged thing (an invariant, a scenario). A failed case
carries a one-line message and the evidence as its text; a skipped case says why it was not
judged (e.g. the run ended on an infrastructure error).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.files import write_whole


@dataclass(frozen=True)
class JUnitCase:
    name: str
    classname: str
    passed: bool
    message: str = ""  # one line: why it failed (or was skipped)
    details: str = ""  # the evidence, as text
    seconds: float = 0.0
    skipped: bool = False  # not judged: neither passed nor failed


def junit_tree(suite: str, cases: Sequence[JUnitCase]) -> ET.ElementTree:
    failures = sum(1 for c in cases if not c.passed and not c.skipped)
    skipped = sum(1 for c in cases if c.skipped)
    total_time = sum(c.seconds for c in cases)
    root = ET.Element("testsuites", {
        "name": suite, "tests": str(len(cases)), "failures": str(failures),
        "errors": "0", "skipped": str(skipped), "time": f"{total_time:.3f}",
    })
    element = ET.SubElement(root, "testsuite", {
        "name": suite, "tests": str(len(cases)), "failures": str(failures),
        "errors": "0", "skipped": str(skipped), "time": f"{total_time:.3f}",
    })
    for case in cases:
        node = ET.SubElement(element, "testcase", {
            "name": case.name, "classname": case.classname, "time": f"{case.seconds:.3f}",
        })
        if case.skipped:
            ET.SubElement(node, "skipped", {"message": case.message})
        elif not case.passed:
            failure = ET.SubElement(node, "failure", {"message": case.message,
                                                      "type": "InvariantViolated"})
            failure.text = case.details
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(path: Path, suite: str, cases: Sequence[JUnitCase]) -> Path:
    """Written whole or not at all (harness.files.write_whole)."""
    root = junit_tree(suite, cases).getroot()
    write_whole(path, ET.tostring(root, encoding="utf-8", xml_declaration=True))
    return path
