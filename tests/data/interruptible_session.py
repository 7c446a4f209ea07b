"""A pytest session that holds the session-wide servers and waits to be interrupted.

Run by tests/test_processes.py (`pytest -p no:cacheprovider <this file>`); the name does
not start with test_, so the project's own test run never collects it.
"""

import json
import time


def test_hold_the_servers(qc_services):
    print(json.dumps([p.pid for p in qc_services.processes]), flush=True)
    time.sleep(120)
