"""The reference queue, except that one method never returns (QC_HANG: enqueue by default).

It sleeps in its own code, holding no Redis call open: no socket timeout can end it, only
the harness's operation time limit.
"""

import os
import time

from harness.target import load_factory

REFERENCE = load_factory("reference")


class HangingQueue:
    def __init__(self, inner):
        self._inner = inner
        self.key_schema = inner.key_schema
        setattr(self, os.environ.get("QC_HANG", "enqueue"), self._hang)

    def __getattr__(self, name):
        return getattr(self._inner, name)

    @staticmethod
    def _hang(*_args, **_kwargs):
        time.sleep(3600)


def make_queue(client, registry):
    return HangingQueue(REFERENCE(client, registry))
