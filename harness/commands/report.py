"""`queue-chaos report DIR [--compare OTHER]`: render report.html again from a run's journal.

Useful after a template change, or to put two runs side by side (e.g. last night and the
night before; two nights of the same kind: dual-write, or a job-queue library's). Exit 0
when the page was written, 2 when DIR holds no journal.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness.errors import ExitCode, UsageError
from harness.report import job_queue_journal
from harness.report.html import comparison, write_html
from harness.report.journal import JOURNAL_SCHEMA, KIND, read_journal

NIGHTS = (KIND, job_queue_journal.KIND)  # a dual-write night's journal, a job-queue library's


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "report", help="re-render a nightly run's report.html from its journal.json",
        description="Render DIR/report.html from DIR/journal.json and DIR/timeseries.jsonl; "
                    "with --compare, add a table of the figures that differ from another run.")
    parser.add_argument("directory", type=Path, metavar="DIR", nargs="?",
                        help="a nightly run's directory (e.g. reports/latest)")
    parser.add_argument("--compare", type=Path, metavar="OTHER",
                        help="another run's directory to compare with")
    parser.add_argument("--schema", action="store_true",
                        help="print the JSON Schema of journal.json and exit")
    return parser


def run(args: argparse.Namespace) -> ExitCode:
    if args.schema:
        print(json.dumps(JOURNAL_SCHEMA, indent=2))
        return ExitCode.HOLDS
    if args.directory is None:
        raise UsageError("give a run directory (e.g. reports/latest), or --schema")
    journal = read_journal(args.directory, NIGHTS)
    other = read_journal(args.compare, (journal["kind"],)) if args.compare else None
    name = args.compare.resolve().name if args.compare else ""
    path = write_html(args.directory, journal, other, name)
    if other is not None:
        width = max(len(row["what"]) for row in comparison(journal, other))
        print(f"{'':{width}}  {'this run':>14}  {name:>14}")
        for row in comparison(journal, other):
            mark = "  *" if row["differs"] else ""
            print(f"{row['what']:{width}}  {row['this']!s:>14}  {row['other']!s:>14}{mark}")
    print(f"report: {path}")
    return ExitCode.HOLDS
