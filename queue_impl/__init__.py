"""The systems under test: the Phase 1 queue as reviewed, the fixed reference queue, the fix the
review proposed (pipeline_fix), single-defect variants of the reference (variants), and two
correct queues unlike the reference, each with its own KeySchema (functions_queue: Redis
Functions; optimistic_queue: WATCH/MULTI/EXEC, no Lua).

Every queue here meets harness.target.QueueTarget and is built by a `make_*(client, registry)`
factory that the harness names as "module:factory".
"""
