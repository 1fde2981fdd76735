"""A bounded load test on the sample server: 4,000 requests at concurrency 64 across the
sklearn, torch and text models; nothing fails, and memory comes back to where it was."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import httpx
import pytest

from tests.support import serving_process

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CALLS = [
    ("/predict", {"features": [5.1, 3.5, 1.4, 0.2]}),
    ("/models/iris/versions/v1/predict", {"features": [6.7, 3.0, 5.2, 2.3]}),
    ("/models/credit/predict", {"age": 42, "income": 52000, "credit_score": 710}),
    ("/models/iris-torch/predict/batch", {"inputs": [[5.1, 3.5, 1.4, 0.2]] * 5}),
    ("/models/sentiment/classify", {"text": "I loved this film"}),
]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def hammer(url: str, total: int, concurrency: int) -> dict[int, int]:
    counts: dict[int, int] = {}
    calls = itertools.islice(itertools.cycle(CALLS), total)
    # Idle connections expire on the client before the server's 5 s keep-alive does, so the
    # client never reuses one that the server is closing at that moment.
    limits = httpx.Limits(max_connections=concurrency, keepalive_expiry=2)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:

        async def worker() -> None:
            for path, body in calls:
                try:
                    status = (await client.post(path, json=body)).status_code
                except httpx.TransportError as exc:
                    print(f"transport error on {path}: {exc!r}")
                    status = -1
                counts[status] = counts.get(status, 0) + 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return counts


def test_four_thousand_requests_at_concurrency_64(sample_manifest: Path) -> None:
    with serving_process(str(sample_manifest), "--log-level", "warning") as served:
        url, proc = served.url, served.proc
        assert asyncio.run(hammer(url, 500, 64)) == {200: 500}  # warm-up
        before = rss_mb(proc.pid)
        started = time.monotonic()
        counts = asyncio.run(hammer(url, 4_000, 64))
        seconds = time.monotonic() - started
        after = rss_mb(proc.pid)
    print(
        f"4,000 requests at c=64 in {seconds:.1f} s: {counts}; server RSS {before:.0f} MB "
        f"before, {after:.0f} MB after"
    )
    assert counts == {200: 4_000}
    assert after - before < 50, f"RSS grew from {before:.0f} MB to {after:.0f} MB"
