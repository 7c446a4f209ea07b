"""The embedded default gives a real Redis behind a real Toxiproxy."""

import redis


def test_proxied_client_reaches_the_same_redis_as_the_direct_one(qc_redis, qc_client):
    qc_client.set("k", "through-the-proxy")
    assert qc_redis.get("k") == "through-the-proxy"


def test_the_proxy_goes_through_toxiproxy(qc_services, qc_client):
    qc_services.control.set_enabled(qc_services.proxy_name, False)
    try:
        try:
            qc_client.ping()
        except redis.ConnectionError:
            pass
        else:
            raise AssertionError("a disabled proxy still let the command through")
    finally:
        qc_services.control.set_enabled(qc_services.proxy_name, True)
