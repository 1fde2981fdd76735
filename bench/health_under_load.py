"""How fast `/health` answers while the server works hard: 8 clients upload large valid
images (4000 x 4000 RGB PNGs, within every limit) and 4 clients send 100,000-row batches.

    python bench/health_under_load.py [--duration 20]

The sample manifest is served as a user starts it (`mlserve serve`, no tuning variables). A
prober asks `/health` every 20 ms, first with the server idle, then under the load; the table
gives /health p50, p99 and worst latency in both phases, the ratio loaded / idle, and how
many requests each kind of client completed. A liveness probe with a 1 s timeout needs the
worst case well under 1 s.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import free_port  # noqa: E402


def big_png() -> dict[str, str]:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4000, 4000), color=(200, 10, 30)).save(buffer, format="PNG")
    return {"image_base64": base64.b64encode(buffer.getvalue()).decode()}


def big_batch() -> bytes:
    import orjson

    rows = np.random.default_rng(0).uniform(0.1, 7.0, size=(100_000, 4)).round(2)
    return orjson.dumps({"inputs": rows.tolist()})


def probe(url: str, seconds: float) -> list[float]:
    latencies = []
    with httpx.Client(timeout=10) as client:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            started = time.perf_counter()
            client.get(url + "/health").raise_for_status()
            latencies.append((time.perf_counter() - started) * 1000)
            time.sleep(0.02)
    return latencies


def hammer(url: str, path: str, body: bytes, stop: threading.Event, done: list[int]) -> None:
    headers = {"content-type": "application/json"}
    with httpx.Client(timeout=120) as client:
        while not stop.is_set():
            client.post(url + path, content=body, headers=headers).raise_for_status()
            done.append(1)


def summary(latencies: list[float]) -> tuple[float, float, float]:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99, ordered[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--images", type=int, default=8, help="clients sending images")
    parser.add_argument("--batches", type=int, default=4, help="clients sending batches")
    args = parser.parse_args()
    import orjson

    subprocess.run([sys.executable, str(ROOT / "sample_models" / "build.py")], check=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlserve",
            "serve",
            str(ROOT / "sample_models" / "models.yaml"),
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(url + "/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("server did not become ready")
            time.sleep(0.25)
        idle = probe(url, min(5.0, args.duration))
        image, batch = orjson.dumps(big_png()), big_batch()
        stop = threading.Event()
        images: list[int] = []
        batches: list[int] = []
        workers = [
            threading.Thread(
                target=hammer, args=(url, "/models/digits/predict/image", image, stop, images)
            )
            for _ in range(args.images)
        ] + [
            threading.Thread(
                target=hammer, args=(url, "/models/iris/predict/batch", batch, stop, batches)
            )
            for _ in range(args.batches)
        ]
        for worker in workers:
            worker.start()
        loaded = probe(url, args.duration)
        stop.set()
        for worker in workers:
            worker.join()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    idle_p50, idle_p99, idle_max = summary(idle)
    p50, p99, worst = summary(loaded)
    print(f"\n/health latency (ms), {args.duration:g} s under load, {os.cpu_count()} CPUs")
    print(f"{'phase':<12}{'probes':>8}{'p50':>9}{'p99':>9}{'max':>9}")
    print(f"{'idle':<12}{len(idle):>8}{idle_p50:>9.1f}{idle_p99:>9.1f}{idle_max:>9.1f}")
    print(f"{'loaded':<12}{len(loaded):>8}{p50:>9.1f}{p99:>9.1f}{worst:>9.1f}")
    print(f"ratio loaded/idle p99: {p99 / idle_p99:.1f}x")
    print(f"completed under load: {len(images)} image requests, {len(batches)} 100,000-row batches")


if __name__ == "__main__":
    main()
