"""Models changed under load: 64 clients send requests while the manifest is edited and
reloaded ten times and the repository API unloads and loads a version. Not one request may
fail, every answer comes from exactly one declared version, and none from a version after it
was removed or unloaded. Also: load/unload cycles leak no models."""

from __future__ import annotations

import asyncio
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import joblib
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier

from mlserve import wire
from tests.models import slow_classifier
from tests.support import serving_process, write_manifest

ROW = {"features": [5.9, 3.0, 5.1, 1.8]}
CLIENTS = 64
LABELS = "labels: [setosa, versicolor, virginica]"


def swap_manifest(versions: dict[str, str], default: str, routing: str) -> str:
    """`versions`: version -> file."""
    lines = ["models:"]
    for version, path in versions.items():
        flag = ", default: true" if version == default else ""
        flag += ", batching: {max_batch_size: 64}"
        lines.append(
            f"  - {{name: iris, version: {version}, runtime: sklearn, path: {path}{flag}, "
            f"{LABELS}}}"
        )
    return "\n".join(lines) + f"\nrouting:\n  iris: {routing}\n"


ALL = {"v1": "a.joblib", "v2": "b.joblib", "v3": "c.joblib"}
# Ten edits: defaults, aliases and splits move; v3 leaves and comes back; v2's file changes.
EDITS = [
    (ALL, "v1", "{aliases: {stable: v1}}"),
    (ALL, "v2", "{aliases: {stable: v2}}"),
    (ALL, "v2", "{aliases: {stable: v1}, traffic: {v1: 50, v3: 50}}"),
    (ALL, "v1", "{aliases: {stable: v3}, traffic: {v3: 100}}"),
    ({"v1": "a.joblib", "v2": "b.joblib"}, "v1", "{aliases: {stable: v2}}"),  # v3 removed
    ({**ALL, "v2": "b2.joblib"}, "v2", "{aliases: {stable: v1}, traffic: {v1: 90, v2: 10}}"),
    (ALL, "v3", "{aliases: {stable: v2}}"),
    (ALL, "v1", "{aliases: {stable: v1}, traffic: {v2: 100}}"),
    ({"v1": "a.joblib", "v2": "b.joblib"}, "v2", "{aliases: {stable: v1}}"),  # v3 removed
    (ALL, "v1", "{aliases: {stable: v2}}"),
]


@dataclass
class Answer:
    sent: float
    status: int
    version: str | None
    header: str | None
    arrival: int  # the server's request counter: the order in which requests reached it


def arrival(response: httpx.Response) -> int:
    """Request ids are a per-process prefix and a counter taken as each request arrives."""
    return int(response.headers["x-request-id"][-8:], 16)


async def client(http: httpx.AsyncClient, stop: asyncio.Event, out: list[Answer], n: int) -> None:
    paths = ["/models/iris/predict", "/models/iris/versions/stable/predict", "/predict"]
    i = n
    while not stop.is_set():
        sent = time.monotonic()
        response = await http.post(paths[i % len(paths)], json=ROW)
        i += 1
        body = response.json() if response.status_code == 200 else {}
        out.append(
            Answer(
                sent,
                response.status_code,
                body.get("version"),
                response.headers.get("x-model-version"),
                arrival(response),
            )
        )


async def wait_answers(out: list[Answer], more: int) -> None:
    """Let at least `more` further answers arrive (the clients are running)."""
    target = len(out) + more
    deadline = time.monotonic() + 60
    while len(out) < target:
        assert time.monotonic() < deadline, "the clients stopped getting answers"
        await asyncio.sleep(0.01)


@pytest.mark.slow
def test_swaps_under_load_fail_no_request(samples: Path, tmp_path: Path) -> None:
    # 20 ms a model call: at every swap, requests are queued and running on the old versions
    slow_classifier(str(tmp_path / "a.joblib"), seconds=0.02)
    for name in ("b", "c", "b2"):
        shutil.copy(tmp_path / "a.joblib", tmp_path / f"{name}.joblib")
    path = write_manifest(tmp_path, swap_manifest(ALL, "v2", "{aliases: {stable: v1}}"))

    async def scenario(url: str) -> tuple[list[Answer], list[tuple[float, int]]]:
        answers: list[Answer] = []
        # v3 gone: from the answer to the change that removed it (client clock) until the
        # next change reached the server (its arrival number). Loopback TCP here retransmits
        # now and then (200 ms, then 400 ms, ...): a request sent after a change can reach the
        # server after the next one, and rightly get that one's routing.
        gone: list[tuple[float, int]] = []
        removed_at: float | None = None
        stop = asyncio.Event()
        limits = httpx.Limits(max_connections=CLIENTS)
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
            tasks = [asyncio.create_task(client(http, stop, answers, n)) for n in range(CLIENTS)]
            await wait_answers(answers, 200)
            for versions, default, routing in EDITS:
                path.write_text(swap_manifest(versions, default, routing))
                reloaded = await http.post(wire.RELOAD)
                assert reloaded.status_code == 200, reloaded.text
                if removed_at is not None:
                    gone.append((removed_at, arrival(reloaded)))
                removed_at = None if "v3" in versions else time.monotonic()
                await wait_answers(answers, 300)
            # the last manifest routes nothing to v3: unload it, load it again
            unload = wire.V2_REPOSITORY_UNLOAD.replace("{name}", "iris")
            unloaded = await http.post(unload, json={"parameters": {"version": "v3"}})
            assert unloaded.status_code == 200
            removed_at = time.monotonic()
            await wait_answers(answers, 300)
            load = wire.V2_REPOSITORY_LOAD.replace("{name}", "iris")
            loaded = await http.post(load, json={"parameters": {"version": "v3"}})
            assert loaded.status_code == 200
            gone.append((removed_at, arrival(loaded)))
            await wait_answers(answers, 300)
            stop.set()
            await asyncio.gather(*tasks)
        return answers, gone

    with serving_process(str(path)) as served:
        answers, gone = asyncio.run(scenario(served.url))
    failed = [a for a in answers if a.status != 200]
    assert not failed, f"{len(failed)} of {len(answers)} requests failed: {failed[:3]}"
    assert all(a.version == a.header and a.version in ALL for a in answers)
    # a request sent after v3 left, and there before the next change, never reached it
    assert len(gone) == 3
    for start, next_change in gone:
        after = [a for a in answers if a.sent > start and a.arrival < next_change]
        assert len(after) >= 100, "too few requests were sent while v3 was gone"
        assert "v3" not in {a.version for a in after}
    assert {a.version for a in answers} == {"v1", "v2", "v3"}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.slow
def test_load_unload_cycles_leak_no_models(tmp_path: Path) -> None:
    data = load_iris()
    rng = np.random.default_rng(0)
    features = np.repeat(data.data, 20, axis=0) + rng.normal(0, 0.3, (3000, 4))
    forest = RandomForestClassifier(n_estimators=60, random_state=0)
    joblib.dump(forest.fit(features, np.repeat(data.target, 20)), tmp_path / "forest.joblib")
    path = write_manifest(
        tmp_path, "models:\n  - {name: forest, runtime: sklearn, path: forest.joblib}\n"
    )
    unload = wire.V2_REPOSITORY_UNLOAD.replace("{name}", "forest")
    load = wire.V2_REPOSITORY_LOAD.replace("{name}", "forest")
    with (
        serving_process(str(path)) as served,
        httpx.Client(base_url=served.url, timeout=60) as http,
    ):

        def cycle() -> None:
            assert http.post(unload).status_code == 200
            assert http.post(load).status_code == 200
            assert http.post("/models/forest/predict", json=ROW).status_code == 200

        for _ in range(10):  # warm: allocator pools and imports settle
            cycle()
        start = rss_mb(served.proc.pid)
        for _ in range(200):
            cycle()
        grown = rss_mb(served.proc.pid) - start
    assert grown < 50, f"RSS grew {grown:.0f} MB over 200 load/unload cycles"
