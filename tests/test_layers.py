"""The contract users import knows nothing of the queues: named targets come from entry points."""

from __future__ import annotations

import subprocess
import sys

from harness.target import resolve_target, target_aliases


def test_importing_the_contract_and_resolving_a_name_imports_no_queue():
    code = ("import sys, harness.target as t; t.resolve_target('reference'); "
            "print(sorted(m for m in sys.modules if m.startswith('queue_impl')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_named_targets_are_the_entry_points_the_package_declares():
    assert target_aliases()["reference"] == "queue_impl.reference:make_queue"
    assert resolve_target("variant:HIGH-2") == "queue_impl.variants:make_update_status_separate"


def test_the_job_queue_contract_and_runner_import_no_adapter_and_no_queue_library():
    code = ("import sys, harness.job_queue_run, harness.commands.job_queues as j; "
            "j.job_queue_aliases(); "
            "print(sorted(m for m in sys.modules if m.startswith(('queue_impl', 'rq'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_the_servers_package_imports_nothing_above_it():
    code = ("import sys, harness.servers.services, harness.servers.binaries; "
            "print('\\n'.join(m for m in sys.modules if m.startswith(('harness', 'queue_impl', "
            "'scenarios'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    below = {"harness", "harness.errors", "harness.toxiproxy", "harness.workdirs"}
    outside = {m for m in out.split() if not m.startswith("harness.servers")}
    assert outside <= below
