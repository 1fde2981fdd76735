"""Probe `/health` one request after another for a while, from a process of its own (so that
a test making connections in its own process does not slow the probes down by its GIL).

`python -m tests.transport.probe_health URL SECONDS` prints `probing` when it starts, then
the latencies in seconds, as JSON."""

from __future__ import annotations

import json
import sys
import time

import httpx


def main(url: str, seconds: float) -> None:
    latencies = []
    with httpx.Client(timeout=10) as client:
        assert client.get(url + "/health").status_code == 200  # connected before timing
        print("probing", flush=True)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started = time.perf_counter()
            assert client.get(url + "/health").status_code == 200
            latencies.append(time.perf_counter() - started)
    print(json.dumps(latencies), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
