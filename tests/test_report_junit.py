"""The JUnit writer: what CI systems read as test results."""

import xml.etree.ElementTree as ET

from harness.report.junit import JUnitCase, write_junit


def _cases():
    return [
        JUnitCase("no_lost_jobs", "nightly.phase1", passed=False, message="51 violation(s)",
                  details="job 0123 has no record", seconds=12.5),
        JUnitCase("no_duplicates", "nightly.phase1", passed=True),
        JUnitCase("list_jobs_complete", "nightly.phase1", passed=True, skipped=True,
                  message="not judged: no snapshots"),
    ]


def test_the_suite_counts_tests_failures_and_skips(tmp_path):
    root = ET.parse(write_junit(tmp_path / "junit.xml", "nightly", _cases())).getroot()
    suite = root.find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")


def test_a_failed_case_carries_its_message_and_evidence(tmp_path):
    root = ET.parse(write_junit(tmp_path / "junit.xml", "nightly", _cases())).getroot()
    failure = root.find(".//testcase[@name='no_lost_jobs']/failure")
    assert failure.get("message") == "51 violation(s)"
    assert failure.text == "job 0123 has no record"


def test_a_passed_case_has_no_failure_and_a_skipped_one_says_why(tmp_path):
    root = ET.parse(write_junit(tmp_path / "junit.xml", "nightly", _cases())).getroot()
    assert root.find(".//testcase[@name='no_duplicates']/*") is None
    skipped = root.find(".//testcase[@name='list_jobs_complete']/skipped")
    assert skipped.get("message") == "not judged: no snapshots"


def test_text_that_xml_must_escape_survives(tmp_path):
    case = JUnitCase("x", "c", passed=False, message='<"&">', details="a < b & c")
    root = ET.parse(write_junit(tmp_path / "junit.xml", "s", [case])).getroot()
    failure = root.find(".//failure")
    assert (failure.get("message"), failure.text) == ('<"&">', "a < b & c")
