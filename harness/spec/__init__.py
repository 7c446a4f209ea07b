"""The contract as an executable specification: every step compared with a model of the queue.

Jepsen, Knossos and Porcupine judge a history against a model of what the system promises
instead of looking for bad shapes someone thought of. Here the model is the contract of
`harness.target.QueueTarget`, word for word:

  engine    candidate states under unknown outcomes, pruned by every observation (generic:
            any contract with a state, a step function and an observation can use it)
  state     the state the dual-write contract promises (records, lists, leases, ...)
  contract  each operation's promised effect, answer and error, as a Model
  observe   a candidate state against a snapshot: every difference, named by invariant
  judge     the glue a Driver uses: one call per completed operation and its snapshot
  job_queue the generic job-queue contract (third-party libraries, their adapters'
            promises), a second Model on the same engine
"""

from harness.spec.judge import SpecJudge

__all__ = ["SpecJudge"]
