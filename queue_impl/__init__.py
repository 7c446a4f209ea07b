"""The systems under test: the Phase 1 queue as reviewed, the fixed reference queue, the fix the
review proposed (pipeline_fix) and single-defect variants of the reference (variants).

Every queue here meets harness.target.QueueTarget and is built by a `make_*(client, registry)`
factory that the harness names as "module:factory".
"""
