"""What one fault costs: adding and removing a toxic, and a Redis round trip through the proxy.

Measured in one run on the local backend (real redis-server and toxiproxy-server):
  - add + remove a toxic through harness.toxiproxy.ToxiproxyControl (one kept-alive session)
    vs toxiproxy-python 0.1.1 (a new HTTP connection per call, no timeouts);
  - one Redis PING through the Toxiproxy proxy vs directly.
The two control clients alternate in blocks, so that drift on a shared machine hits both.

  python -m benchmarks toxiproxy_control [--iterations N]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Sequence

import redis

from benchmarks import alternating, median, timing_row
from harness.servers.config import ServicesConfig
from harness.servers.services import Endpoint, Services, open_services
from harness.toxiproxy import Toxic, ToxiproxyControl

BENCH_TOXIC = Toxic("bench", "latency", "downstream", attributes={"latency": 0})


def ours(control: ToxiproxyControl, proxy: str) -> Callable[[], None]:
    def add_and_remove() -> None:
        control.add_toxic(proxy, BENCH_TOXIC)
        control.remove_toxic(proxy, BENCH_TOXIC.name)
    return add_and_remove


def toxiproxy_python(services: Services) -> Callable[[], None]:
    from toxiproxy import Toxiproxy  # noqa: PLC0415 - a dev dependency, measured only here

    server = Toxiproxy()
    api = services.control.url.removeprefix("http://")
    host, _, port = api.rpartition(":")
    server.update_api_consumer(host, int(port))  # process-global: one server at a time
    proxy = server.get_proxy(services.proxy_name)

    def add_and_remove() -> None:
        proxy.add_toxic(name=BENCH_TOXIC.name, type=BENCH_TOXIC.type,
                        stream=BENCH_TOXIC.stream, attributes=dict(BENCH_TOXIC.attributes))
        proxy.destroy_toxic(BENCH_TOXIC.name)
    return add_and_remove



def ping(endpoint: Endpoint) -> redis.Redis:
    return redis.Redis(host=endpoint.host, port=endpoint.port, protocol=2, retry=None)



def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks toxiproxy_control",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=300,
                        help="timed calls per figure (default 300)")
    args = parser.parse_args(argv)

    with open_services(ServicesConfig(backend="local")) as services:
        control = ToxiproxyControl(services.control.url)
        with contextlib.closing(control), contextlib.closing(ping(services.redis)) as direct, \
                contextlib.closing(ping(services.proxy)) as proxied:
            kept_alive, per_call = alternating(ours(control, services.proxy_name),
                                               toxiproxy_python(services), args.iterations)
            direct_rt, proxied_rt = alternating(direct.ping, proxied.ping, args.iterations)
        versions = services.versions()

    print(f"Toxiproxy control and Redis round trips: local backend, {args.iterations} calls "
          f"each (redis-server {versions['redis']}, toxiproxy-server {versions['toxiproxy']})")
    print(timing_row("add+remove a toxic, ToxiproxyControl (kept-alive session)", kept_alive,
                     width=60))
    print(timing_row("add+remove a toxic, toxiproxy-python 0.1.1 (new connection)", per_call,
                     width=60))
    print(timing_row("Redis PING, direct", direct_rt, width=60))
    print(timing_row("Redis PING, through the Toxiproxy proxy", proxied_rt, width=60))
    print(f"  ratio toxiproxy-python / ToxiproxyControl:  "
          f"{median(per_call) / median(kept_alive):.2f}x")
    print(f"  ratio proxied / direct Redis round trip:    "
          f"{median(proxied_rt) / median(direct_rt):.2f}x")
    print(f"  one fault (add+remove) costs as much as     "
          f"{median(kept_alive) / median(proxied_rt):.0f} proxied round trips")
    return 0


if __name__ == "__main__":
    sys.exit(main())
