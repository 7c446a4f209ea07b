"""The Redis client the harness hands to a target: through the proxy, retry policy explicit.

redis-py 6+ retries a command on ConnectionError/TimeoutError by default (10 times in 8.x),
and it retries after the request was sent, so a command whose reply was lost runs twice.
The harness never inherits that silently: retries are off unless a run asks for them, and
`ClientPolicy.redis_py_default()` reproduces the library default for runs that test it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import redis
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.connection import Connection
from redis.retry import Retry


@dataclass(frozen=True)
class ClientPolicy:
    retries: int = 0  # redis-py retries per command on ConnectionError/TimeoutError
    socket_timeout: float = 0.5  # seconds; a `stall` fault waits this long
    connect_timeout: float = 0.5
    backoff_base: float = 0.0  # 0: retry at once (keeps runs fast); redis-py uses 0.01

    @classmethod
    def redis_py_default(cls) -> ClientPolicy:
        """What `redis.Redis()` does by default in redis-py 8: 10 retries, jittered backoff."""
        return cls().with_redis_py_retries()

    def with_redis_py_retries(self) -> ClientPolicy:
        """This policy's timeouts, with redis-py 8's default retries (10, jittered backoff)."""
        return replace(self, retries=10, backoff_base=0.01)

    def retry(self) -> Retry:
        if self.retries and self.backoff_base:
            return Retry(ExponentialWithJitterBackoff(base=self.backoff_base, cap=1), self.retries)
        return Retry(NoBackoff(), self.retries)

    def describe(self) -> str:
        return f"retries={self.retries}, socket_timeout={self.socket_timeout:g}s"


def build_client(
    host: str,
    port: int,
    policy: ClientPolicy | None = None,
    connection_class: type[Connection] = Connection,
    decode_responses: bool = True,
    **connection_kwargs: Any,
) -> redis.Redis:
    """A client whose every setting that matters under faults is explicit.

    Decoded strings by default (the dual-write targets); `decode_responses=False` gives
    bytes over the same connection class, for a library that stores binary data (rq keeps
    its job data zlib-compressed and pickled).
    """
    policy = policy or ClientPolicy()
    pool = redis.ConnectionPool(
        connection_class=connection_class,
        host=host,
        port=port,
        socket_timeout=policy.socket_timeout,
        socket_connect_timeout=policy.connect_timeout,
        retry=policy.retry(),
        decode_responses=decode_responses,
        health_check_interval=0,  # a PING before a command would shift the round-trip count
        driver_info=None,  # no CLIENT SETINFO on connect
        **({"protocol": 2} | connection_kwargs),  # RESP2 sends nothing on connect (RESP3
        # says HELLO), so a fault never lands on a handshake
    )
    return redis.Redis(connection_pool=pool)
