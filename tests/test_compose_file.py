"""docker-compose.yml gives the compose backend what its defaults expect, and Compose accepts it.

Acceptance is checked by compose-go (tests/data/composecheck), the loader `docker compose`
itself uses: it validates the file against the compose-spec JSON schema it embeds. No
container is run here; the proxy file is loaded by the real toxiproxy-server binary.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from harness.servers.binaries import find_binary
from harness.servers.config import ServicesConfig
from harness.servers.ports import LOOPBACK, free_port, port_in_use
from harness.servers.processes import ManagedProcess
from harness.toxiproxy import ToxiproxyControl

ROOT = Path(__file__).parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
PROXY_FILE = ROOT / "compose" / "toxiproxy.json"
COMPOSECHECK = Path(__file__).parent / "data" / "composecheck"
DEFAULTS = ServicesConfig()


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def proxies() -> list[dict[str, Any]]:
    return json.loads(PROXY_FILE.read_text())


def compose_go(compose_file: Path) -> subprocess.CompletedProcess[str]:
    go = shutil.which("go")
    if go is None:
        pytest.skip("Go is not installed: compose-go cannot check the file (make servers needs Go)")
    return subprocess.run([go, "run", ".", str(compose_file)], cwd=COMPOSECHECK, text=True,
                          capture_output=True, timeout=600, check=False)


def published(service: dict[str, Any]) -> set[tuple[str, int, int]]:
    """(host ip, host port, container port) of each "IP:HOST:CONTAINER" port mapping."""
    mappings = set()
    for entry in service["ports"]:
        host_ip, host_port, container_port = entry.split(":")
        mappings.add((host_ip, int(host_port), int(container_port)))
    return mappings


def port_of(address: str) -> int:
    return int(address.rpartition(":")[2])


def test_compose_accepts_the_file(compose):
    result = compose_go(COMPOSE_FILE)
    assert result.returncode == 0, result.stderr
    project = json.loads(result.stdout)
    assert set(project["services"]) == {"redis", "toxiproxy"}


def test_compose_rejects_a_file_that_breaks_the_schema(tmp_path, compose):
    broken = dict(compose)
    broken["services"] = {**compose["services"],
                          "redis": {**compose["services"]["redis"], "healthchek": {}}}
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken))
    result = compose_go(path)
    assert result.returncode == 1
    assert "healthchek" in result.stderr


def test_the_images_are_the_pinned_ones(compose):
    services = compose["services"]
    assert services["redis"]["image"] == "redis:7"
    assert services["toxiproxy"]["image"] == "ghcr.io/shopify/toxiproxy:2.12.0"


def test_redis_is_published_where_the_checker_looks_by_default(compose):
    port = urlparse(DEFAULTS.redis_url).port
    assert (LOOPBACK, port, 6379) in published(compose["services"]["redis"])


def test_toxiproxy_api_and_proxy_are_published_where_the_harness_looks_by_default(compose):
    mappings = published(compose["services"]["toxiproxy"])
    assert (LOOPBACK, urlparse(DEFAULTS.toxiproxy_url).port, 8474) in mappings
    proxy_port = port_of(DEFAULTS.proxy_listen)
    assert (LOOPBACK, proxy_port, proxy_port) in mappings


def test_the_proxy_file_declares_the_proxy_the_defaults_expect(proxies):
    assert proxies == [{"name": DEFAULTS.proxy_name, "listen": DEFAULTS.proxy_listen,
                        "upstream": DEFAULTS.proxy_upstream, "enabled": True}]


def test_the_proxy_upstream_is_the_redis_service(compose, proxies):
    host, _, port = proxies[0]["upstream"].rpartition(":")
    assert host in compose["services"]
    assert int(port) == 6379


def test_toxiproxy_listens_on_every_interface_and_loads_the_proxy_file(compose):
    service = compose["services"]["toxiproxy"]
    config_flags = [arg for arg in service["command"] if arg.startswith("-config=")]
    assert "-host=0.0.0.0" in service["command"]  # overriding the command drops the image's
    assert len(config_flags) == 1
    target = config_flags[0].removeprefix("-config=")
    assert f"./compose/toxiproxy.json:{target}:ro" in service["volumes"]


def test_toxiproxy_starts_after_redis_is_healthy(compose):
    depends = compose["services"]["toxiproxy"]["depends_on"]
    assert depends == {"redis": {"condition": "service_healthy"}}


def test_both_services_have_a_healthcheck_that_probes_what_the_harness_needs(compose):
    services = compose["services"]
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    probe = services["toxiproxy"]["healthcheck"]["test"]
    assert probe[:2] == ["CMD", "/toxiproxy-cli"]  # FROM scratch: no shell, but its own CLI
    assert probe[-2:] == ["inspect", DEFAULTS.proxy_name]


def test_the_real_toxiproxy_server_loads_the_proxy_file(tmp_path):
    if port_in_use(port_of(DEFAULTS.proxy_listen), host="0.0.0.0"):
        pytest.skip(f"port {port_of(DEFAULTS.proxy_listen)} is taken on this machine")
    api_port = free_port()
    server = ManagedProcess("toxiproxy-server", [
        find_binary("toxiproxy-server"), "-host", LOOPBACK, "-port", str(api_port),
        "-config", str(PROXY_FILE),
    ], log_dir=tmp_path)
    control = ToxiproxyControl(f"http://{LOOPBACK}:{api_port}")
    try:
        server.wait_ready(control.answers)
        proxy = control.get_proxy(DEFAULTS.proxy_name)
    finally:
        control.close()
        server.stop()
    assert proxy is not None
    assert proxy["upstream"] == DEFAULTS.proxy_upstream
    assert port_of(proxy["listen"]) == port_of(DEFAULTS.proxy_listen)
