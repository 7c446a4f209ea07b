"""The real servers: where redis-server and toxiproxy-server come from (binaries), how they
are started on free loopback ports and stopped (processes, ports), and the backends a run
finds them through (services: embedded, docker-compose, testcontainers; config)."""
