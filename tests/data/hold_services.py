"""Open services, print the server pids as one JSON line, then wait to be signalled or killed.

Run by tests/test_processes.py as a separate Python process; prints "unwound" once the
`with` block has been left, whatever the reason.
"""

import json
import sys
import time

from harness.servers.config import ServicesConfig
from harness.servers.services import open_services

try:
    with open_services(ServicesConfig(backend="local")) as services:
        print(json.dumps([p.pid for p in services.processes]), flush=True)
        time.sleep(120)
finally:
    print("unwound", flush=True)
    sys.stdout.flush()
