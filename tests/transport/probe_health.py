"""Probe `/health` one request after another for a while, from a process of its own (so that
a test making connections in its own process does not slow the probes down by its GIL).

`python -m tests.transport.probe_health URL SECONDS` prints `probing` when it starts, then
the latencies in seconds, as JSON."""

from __future__ import annotations

import json
import sys
import time

import httpx


def health_latencies(url: str, seconds: float, announce: bool = False) -> list[float]:
    """`/health` answered one after another for `seconds`, each one's seconds, sorted; on
    one connection, opened before timing (`announce`: print `probing` once it is)."""
    latencies = []
    with httpx.Client(timeout=10) as client:
        assert client.get(url + "/health").status_code == 200
        if announce:
            print("probing", flush=True)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started = time.perf_counter()
            assert client.get(url + "/health").status_code == 200
            latencies.append(time.perf_counter() - started)
    return sorted(latencies)


def main(url: str, seconds: float) -> None:
    print(json.dumps(health_latencies(url, seconds, announce=True)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
