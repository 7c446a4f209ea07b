"""Where a run's Hypothesis example database lives, named by one URL (`--database`), so a
failure found one night replays on another machine, through Hypothesis's own classes.

  DIR, file:///DIR              a folder (DirectoryBasedExampleDatabase)
  redis://[:PASSWORD@]HOST:PORT[/DB][?prefix=P]
                                a Redis (hypothesis.extra.redis.RedisExampleDatabase): the
                                nightly writes its failures there, anyone replays them; never
                                the Redis under test, which the harness empties
  github://OWNER/REPO[/ARTIFACT]
                                the artifact a CI run uploaded (GitHubArtifactDatabase, default
                                artifact `queue-chaos-examples`), always read-only: GITHUB_TOKEN
                                must be set for a private repository; downloads are cached in
                                the user cache (queue-chaos/github-artifacts)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from hypothesis.database import (
    DirectoryBasedExampleDatabase,
    ExampleDatabase,
    GitHubArtifactDatabase,
    MultiplexedDatabase,
    ReadOnlyDatabase,
)

from harness.errors import InfrastructureError, UsageError
from harness.servers.binaries import user_cache

GITHUB_ARTIFACT = "queue-chaos-examples"  # what the nightly workflow uploads its database as
REDIS_PREFIX = "queue-chaos-example:"
KINDS = ("directory", "redis", "github")
FORMS = "a folder, redis://HOST:PORT/DB or github://OWNER/REPO[/ARTIFACT]"


@dataclass(frozen=True)
class DatabaseURL:
    """A parsed --database: which kind, and where."""

    kind: str  # directory | redis | github
    location: str  # the folder, the redis:// URL, or OWNER/REPO/ARTIFACT
    prefix: str = REDIS_PREFIX  # redis: the keys' prefix

    @property
    def read_only(self) -> bool:
        return self.kind == "github"

    def display(self) -> str:
        """The URL as a report may print it: a Redis password is never shown."""
        if self.kind == "directory":
            return self.location
        if self.kind == "github":
            return f"github://{self.location}"
        parsed = urlparse(self.location)
        if parsed.password:
            netloc = f"{parsed.username or ''}:***@{parsed.hostname}:{parsed.port or 6379}"
            return parsed._replace(netloc=netloc).geturl()
        return self.location

    def redis_endpoint(self) -> tuple[str, int] | None:
        if self.kind != "redis":
            return None
        parsed = urlparse(self.location)
        return parsed.hostname or "127.0.0.1", parsed.port or 6379


def parse_database(text: str) -> DatabaseURL:
    """A --database value as a DatabaseURL; a one-line UsageError when it is none of the forms."""
    if not text or not text.strip():
        raise UsageError(f"empty --database: give {FORMS}")
    parsed = urlparse(text)
    scheme = parsed.scheme.lower()
    if scheme in ("", "file"):
        folder = unquote(parsed.path) if scheme == "file" else text
        if not folder:
            raise UsageError(f"bad --database {text!r}: file:///FOLDER names a folder")
        return DatabaseURL("directory", folder)
    if scheme in ("redis", "rediss"):
        if not parsed.hostname:
            raise UsageError(f"bad --database {text!r}: redis://HOST:PORT/DB names a host")
        try:
            _ = parsed.port
        except ValueError:
            raise UsageError(f"bad --database {text!r}: the port is not a number") from None
        db = parsed.path.strip("/")
        if db and not db.isdigit():
            raise UsageError(f"bad --database {text!r}: the database is a number (/0)")
        prefix = parse_qs(parsed.query).get("prefix", [REDIS_PREFIX])[0]
        return DatabaseURL("redis", parsed._replace(query="").geturl(), prefix)
    if scheme == "github":
        parts = [p for p in (parsed.netloc, *parsed.path.split("/")) if p]
        if len(parts) not in (2, 3):
            raise UsageError(f"bad --database {text!r}: github://OWNER/REPO[/ARTIFACT]")
        owner, repo, artifact = (*parts, GITHUB_ARTIFACT)[:3]
        return DatabaseURL("github", f"{owner}/{repo}/{artifact}")
    raise UsageError(f"bad --database {text!r}: unknown scheme {scheme!r}; give {FORMS}")


LOCAL_NAMES = ("127.0.0.1", "localhost", "::1")


def refuse_redis_under_test(url: DatabaseURL | None, host: str, port: int) -> None:
    """A UsageError when the database would live in the Redis the harness empties."""
    endpoint = url.redis_endpoint() if url is not None else None
    if endpoint is None:
        return
    same_host = endpoint[0] == host or {endpoint[0], host} <= set(LOCAL_NAMES)
    if same_host and endpoint[1] == port:
        raise UsageError(f"--database {url.display()} is the Redis under test, which the "
                         "harness empties between examples: use another Redis (or database)")


def github_cache() -> Path:
    """Where downloaded artifacts are kept (beside the servers, in the user cache)."""
    return user_cache() / "github-artifacts"


def open_database(url: DatabaseURL) -> ExampleDatabase:
    """The Hypothesis database a DatabaseURL names; a Redis that does not answer is exit 3."""
    if url.kind == "directory":
        return DirectoryBasedExampleDatabase(url.location)
    if url.kind == "github":
        owner, repo, artifact = url.location.split("/")
        return ReadOnlyDatabase(GitHubArtifactDatabase(
            owner, repo, artifact_name=artifact,
            path=github_cache() / owner / repo / artifact))
    import redis  # noqa: PLC0415 - the Redis database alone needs it
    from hypothesis.extra.redis import RedisExampleDatabase  # noqa: PLC0415

    client = redis.Redis.from_url(url.location, socket_timeout=5, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise InfrastructureError(
            f"the example database at {url.display()} does not answer: {exc}") from exc
    return RedisExampleDatabase(client, key_prefix=url.prefix.encode())


def with_local(local: Path, shared: DatabaseURL | None) -> ExampleDatabase:
    """The run's own folder, and the shared database too when one is given: failures are
    saved to both (a read-only one only replays into the run)."""
    folder = DirectoryBasedExampleDatabase(str(local))
    if shared is None:
        return folder
    return MultiplexedDatabase(folder, open_database(shared))


class NamespacedDatabase(ExampleDatabase):
    """One run's keys apart inside a shared example database (`namespace.key`).

    The machine's runs per severity share one test function, so one database key: a run
    that replays another's saved failure and finds it holds (its invariants are not the
    ones that broke) deletes it, and a night's failure was gone by the morning.
    """

    def __init__(self, inner: ExampleDatabase, namespace: str) -> None:
        super().__init__()
        self.inner = inner
        self.prefix = namespace.encode() + b"."

    def __repr__(self) -> str:
        return f"NamespacedDatabase({self.inner!r}, {self.prefix[:-1].decode()!r})"

    def save(self, key: bytes, value: bytes) -> None:
        self.inner.save(self.prefix + key, value)

    def fetch(self, key: bytes) -> Iterable[bytes]:
        return self.inner.fetch(self.prefix + key)

    def delete(self, key: bytes, value: bytes) -> None:
        self.inner.delete(self.prefix + key, value)

    def move(self, src: bytes, dest: bytes, value: bytes) -> None:
        self.inner.move(self.prefix + src, self.prefix + dest, value)
