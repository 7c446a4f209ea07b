"""The nemesis on a real Toxiproxy: every window's toxics are accepted, applied to every
connection for the window's duration, and gone once it closes."""

import random
import threading
import time

import pytest
import redis

from harness.errors import ToxiproxyError
from harness.nightly.nemesis import Nemesis
from harness.nightly.schedule import (
    NETWORK_KINDS,
    NemesisKind,
    Schedule,
    Window,
    draw_schedule,
    draw_toxics,
)

pytestmark = pytest.mark.servers


def _clock():
    began = time.monotonic()
    return lambda: time.monotonic() - began


def test_toxiproxy_accepts_the_toxics_of_every_window_an_hour_can_draw(qc_services, qc_redis):
    control, proxy = qc_services.control, qc_services.proxy_name
    seen: set[tuple[str, ...]] = set()
    for window in draw_schedule(17, 3600.0).windows:
        if window.kinds in seen:
            continue
        seen.add(window.kinds)
        for toxic in window.toxics:
            control.add_toxic(proxy, toxic)
        assert len(control.toxics(proxy)) == len(window.toxics)
        control.reset()
    assert {k for kinds in seen for k in kinds} == set(NETWORK_KINDS)


def test_a_window_slows_every_connection_while_it_is_open_and_not_after(qc_services, qc_client):
    (toxic,) = draw_toxics(NemesisKind.LATENCY, random.Random(1), "nemesis-0-latency")
    window = Window(0, 0.0, 1.5, (NemesisKind.LATENCY,), (toxic,))
    stop, clock = threading.Event(), _clock()
    nemesis = Nemesis(qc_services.control, qc_services.proxy_name,
                      Schedule(0, 2.0, (window,)), clock, stop)
    qc_client.ping()
    nemesis.start()
    time.sleep(0.3)
    assert [t["name"] for t in qc_services.control.toxics(qc_services.proxy_name)] == [toxic.name]
    assert nemesis.active_label() == "nemesis:latency"
    started = time.monotonic()
    qc_client.ping()
    assert time.monotonic() - started >= toxic.attributes["latency"] / 1000 * 0.5
    nemesis.join(5)
    assert qc_services.control.toxics(qc_services.proxy_name) == []
    assert nemesis.active is None
    (applied,) = nemesis.applied
    assert applied.ended_at is not None and applied.ended_at - applied.started_at >= 1.4


def test_a_proxy_down_window_refuses_connections_until_it_closes(qc_services, qc_client):
    window = Window(0, 0.0, 1.0, (NemesisKind.PROXY_DOWN,), ())
    stop = threading.Event()
    nemesis = Nemesis(qc_services.control, qc_services.proxy_name,
                      Schedule(0, 2.0, (window,)), _clock(), stop)
    nemesis.start()
    time.sleep(0.3)
    with pytest.raises(redis.ConnectionError):
        qc_client.ping()
    nemesis.join(5)
    assert qc_client.ping()


def test_stopping_the_nemesis_mid_window_leaves_the_window_for_heal_to_close(qc_services):
    (toxic,) = draw_toxics(NemesisKind.BANDWIDTH, random.Random(2), "bw")
    window = Window(0, 0.0, 30.0, (NemesisKind.BANDWIDTH,), (toxic,))
    stop = threading.Event()
    nemesis = Nemesis(qc_services.control, qc_services.proxy_name,
                      Schedule(0, 60.0, (window,)), _clock(), stop)
    nemesis.start()
    time.sleep(0.3)
    stop.set()
    nemesis.join(5)
    nemesis.heal()
    assert qc_services.control.toxics(qc_services.proxy_name) == []
    assert nemesis.applied[0].ended_at is not None


def test_a_toxiproxy_error_stops_the_nemesis_and_is_kept_for_the_report(qc_services):
    bad = Window(0, 0.0, 1.0, (NemesisKind.LATENCY,), (
        draw_toxics(NemesisKind.LATENCY, random.Random(3), "x")[0],))
    nemesis = Nemesis(qc_services.control, "no-such-proxy", Schedule(0, 2.0, (bad,)),
                      _clock(), threading.Event())
    nemesis.start()
    nemesis.join(5)
    assert nemesis.failed.is_set()
    assert isinstance(nemesis.error, ToxiproxyError)
