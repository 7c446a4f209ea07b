"""A Toxiproxy control client in which every call has a timeout and every failure is loud.

toxiproxy-python keeps host and port in class attributes (one server per process), sets no
timeouts and lets 5xx answers pass silently (README, Design). The harness needs the
opposite: several servers at once, a bounded wait on every call (Toxiproxy's API can hang
while traffic flows, issue #558), and a 5xx or a timeout raised as ToxiproxyError so that
a failed injection can never pass for a queue that held.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from harness.errors import ToxiproxyError

USER_AGENT = "queue-chaos"  # Toxiproxy answers 403 to User-Agents starting with "Mozilla/"


@dataclass(frozen=True)
class Toxic:
    """One toxic as Toxiproxy's API spells it."""

    name: str
    type: str
    stream: str = "downstream"  # upstream = client to server, downstream = server to client
    toxicity: float = 1.0  # 1.0 keeps runs reproducible (adding a toxic re-rolls the others)
    attributes: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
            "attributes": dict(self.attributes),
        }


class ToxiproxyControl:
    """The HTTP API of one Toxiproxy server, through one kept-alive session."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()
        self._session.headers["User-Agent"] = USER_AGENT
        # The control API is a server the harness was told of: never through an HTTP proxy
        # from the environment (and requests would read the environment on every call).
        self._session.trust_env = False

    def close(self) -> None:
        self._session.close()

    def _call(
        self, method: str, path: str, body: Any = None, *, ok_missing: bool = False
    ) -> Any:
        try:
            response = self._session.request(
                method, self.url + path, json=body, timeout=(min(1.0, self.timeout), self.timeout)
            )
        except requests.Timeout as exc:
            raise ToxiproxyError(
                f"Toxiproxy {method} {path} timed out after {self.timeout:g} s ({self.url})"
            ) from exc
        except requests.RequestException as exc:
            raise ToxiproxyError(f"Toxiproxy at {self.url} unreachable: {exc}") from exc
        if ok_missing and response.status_code == 404:
            return None
        if response.status_code >= 400:
            try:
                detail = response.json().get("error", response.text)
            except ValueError:
                detail = response.text
            raise ToxiproxyError(
                f"Toxiproxy {method} {path} answered {response.status_code}: {detail.strip()}",
                status=response.status_code)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    # --- server -----------------------------------------------------------------------
    def version(self) -> str:
        try:
            response = self._session.get(self.url + "/version", timeout=self.timeout)
        except requests.RequestException as exc:
            raise ToxiproxyError(f"Toxiproxy at {self.url} unreachable: {exc}") from exc
        if response.status_code != 200:
            raise ToxiproxyError(f"Toxiproxy GET /version answered {response.status_code}")
        text = response.text.strip()
        try:
            return str(response.json().get("version", text))
        except (ValueError, AttributeError):
            return text

    def answers(self) -> bool:
        try:
            self.version()
        except ToxiproxyError:
            return False
        return True

    def reset(self) -> None:
        """Re-enable every proxy and remove every toxic."""
        self._call("POST", "/reset")

    # --- proxies ------------------------------------------------------------------------
    def create_proxy(self, name: str, listen: str, upstream: str) -> dict[str, Any]:
        body = {"name": name, "listen": listen, "upstream": upstream, "enabled": True}
        return self._call("POST", "/proxies", body)

    def get_proxy(self, name: str) -> dict[str, Any] | None:
        return self._call("GET", f"/proxies/{name}", ok_missing=True)

    def delete_proxy(self, name: str) -> None:
        self._call("DELETE", f"/proxies/{name}", ok_missing=True)

    def set_enabled(self, name: str, enabled: bool) -> None:
        """Disabling closes the proxy's listener and every connection through it."""
        self._call("PATCH", f"/proxies/{name}", {"enabled": enabled})

    def set_upstream(self, name: str, upstream: str) -> None:
        """Point the proxy at another server (a failover the client does not see): Toxiproxy
        restarts the proxy, closing every connection through it; the listen address stays."""
        self._call("PATCH", f"/proxies/{name}", {"upstream": upstream})

    # --- toxics -------------------------------------------------------------------------
    def add_toxic(self, proxy: str, toxic: Toxic) -> dict[str, Any]:
        """Add `toxic`; one of the same name already there is replaced (a name is ours, and
        an add whose answer was lost may have taken effect)."""
        try:
            return self._call("POST", f"/proxies/{proxy}/toxics", toxic.as_json())
        except ToxiproxyError as exc:
            if exc.status != 409:
                raise
        self.remove_toxic(proxy, toxic.name)
        return self._call("POST", f"/proxies/{proxy}/toxics", toxic.as_json())

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._call("DELETE", f"/proxies/{proxy}/toxics/{name}", ok_missing=True)

    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/proxies/{proxy}/toxics") or [])
