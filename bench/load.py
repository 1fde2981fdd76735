"""Load generators: wrk for single rows and V2 binary batches, httpx for JSON batches,
subprocess timings for the CLI, and the in-process ceiling."""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson

from bench import servers
from mlserve.client.tensors import V2Target

WRK_CORE = "1"
LUA = Path(__file__).with_name("post.lua")
BODY_LUA = Path(__file__).with_name("body.lua")
ROWS_LUA = Path(__file__).with_name("rows.lua")  # a different row each request


def wrk(
    url: str,
    connections: int,
    seconds: float,
    pinned: bool = True,
    script: Path = LUA,
    script_args: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Requests/s, p50, p99 (ms) and errors for one row per request (or `script`'s body)."""
    pin = ["taskset", "-c", WRK_CORE] if pinned else []
    out = subprocess.run(
        [
            *pin,
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "--timeout",
            "30s",
            "-s",
            str(script),
            url,
            *script_args,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    return {
        "requests": int(total.group(1)) if total else 0,
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": _ms(re.search(r"50%\s+([\d.]+\w+)", out)),
        "p99_ms": _ms(re.search(r"99%\s+([\d.]+\w+)", out)),
        "errors": (sum(int(g) for g in socket.groups()) if socket else 0)
        + (int(non2xx.group(1)) if non2xx else 0),
    }


def _ms(match: re.Match[str] | None) -> float | None:
    if match is None:
        return None
    value, unit = re.match(r"([\d.]+)(\w+)", match.group(1)).groups()  # type: ignore[union-attr]
    return round(float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit], 3)


def batch_rows_per_second(url: str, rows: np.ndarray, min_seconds: float = 2.0) -> float:
    """Rows/s through /predict/batch, one request at a time, at this batch size."""
    body = orjson.dumps({"inputs": rows.tolist()})
    return _rows_per_second(
        url + "/predict/batch", body, {"content-type": "application/json"}, len(rows), min_seconds
    )


def v2_binary_rows_per_second(
    url: str,
    model: str,
    rows: np.ndarray,
    seconds: float = 3.0,
    in_flight: int = 1,
    answer_bytes: int | None = None,
) -> float:
    """Rows/s through V2 /infer with binary tensors in and out (no JSON numbers at all), sent
    by wrk on `in_flight` connections, each waiting for its answer before sending again (with
    two, the server works on one request while the other travels: what a pipeline of big
    batches sees). A C client: a Python one spends about 2 ms of its own CPU on each 1.6 MB
    request, as long as the server takes. `answer_bytes` asks the wire floor for an answer
    of that size."""
    body, headers = _v2_binary_request(rows)
    if answer_bytes is not None:
        headers["x-answer-bytes"] = str(answer_bytes)
    with tempfile.NamedTemporaryFile(suffix=".body") as file:
        file.write(body)
        file.flush()
        lines = tuple(f"{name}: {value}" for name, value in headers.items())
        result = wrk(
            f"{url}/v2/models/{model}/infer",
            in_flight,
            seconds,
            script=BODY_LUA,
            script_args=(file.name, *lines),
        )
    if result["errors"] or not result["requests"]:
        raise RuntimeError(f"V2 requests failed: {result}")
    return float(result["rps"]) * len(rows)


def v2_binary_answer_bytes(url: str, model: str, rows: np.ndarray) -> int:
    """The size of the server's binary answer to these rows (what the wire floor sends)."""
    body, headers = _v2_binary_request(rows)
    response = httpx.post(f"{url}/v2/models/{model}/infer", content=body, headers=headers)
    return len(response.raise_for_status().content)


def _v2_binary_request(rows: np.ndarray) -> tuple[bytes, dict[str, str]]:
    """One request as `mlserve batch` sends it: FP64 binary tensor in, binary outputs."""
    return V2Target("", ["input"], None, None).request(rows, None)


def _rows_per_second(
    url: str, body: bytes, headers: dict[str, str], rows: int, min_seconds: float
) -> float:
    with httpx.Client(timeout=300) as client:
        client.post(url, content=body, headers=headers).raise_for_status()
        done, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < min_seconds or done < 3:
            client.post(url, content=body, headers=headers).raise_for_status()
            done += 1
    return done * rows / elapsed


def ceiling_rows_per_second(
    call: Callable[[np.ndarray], Any], rows: np.ndarray, min_seconds: float = 1.0
) -> float:
    """Rows per second of one in-process call on the same batch, again and again."""
    call(rows)
    done, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < min_seconds or done < 3:
        call(rows)
        done += 1
    return done * len(rows) / elapsed


def command_seconds(args: list[str], runs: int = 5, stdin: str | None = None) -> float:
    """Median wall time of a whole command, start to exit."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(args, input=stdin, capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def mlserve_bin() -> str:
    return str(Path(sys.executable).parent / "mlserve")


class HealthProbe:
    """`/health` asked every 50 ms from a thread while a load runs (as a liveness probe)."""

    def __init__(self, url: str) -> None:
        self.url, self.latencies_ms = url, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.wait(0.05):
                started = time.perf_counter()
                client.get(self.url + "/health")
                self.latencies_ms.append((time.perf_counter() - started) * 1000)

    def p99_ms(self) -> float | None:
        if not self.latencies_ms:
            return None
        return round(float(np.percentile(self.latencies_ms, 99)), 2)


@contextmanager
def health_prober(url: str, enabled: bool = True) -> Iterator[HealthProbe]:
    probe = HealthProbe(url)
    if enabled:
        probe._thread.start()
    try:
        yield probe
    finally:
        probe._stop.set()
        if enabled:
            probe._thread.join()


Measure = Callable[[str, str, int], dict[str, Any]]  # (kind, url, connections) -> a result


def alternating_rounds(
    urls: dict[str, str], levels: list[int], rounds: int, measure: Measure
) -> list[dict[str, Any]]:
    """Servers that are all up (an idle one costs nothing), warmed up, then measured one after
    the other in `rounds` rounds at each level, each waiting for the one before to go idle: the
    host's speed drifts by 20-30% from one minute to the next here, which servers measured
    minutes apart would put in their ratios. Every other round runs in the reverse order, so
    that no server is always measured first, or always right after the same other one. Each
    keeps its median round (by requests/s), with every round's figure in `rounds_rps`, in the
    order the rounds ran (see paired_ratio)."""
    for url in urls.values():
        wrk(url + "/predict", 16, 2.0)  # warm-up
        servers.wait_idle(url)
    out = []
    order = list(urls.items())
    for c in levels:
        samples: dict[str, list[dict[str, Any]]] = {kind: [] for kind in urls}
        for round_number in range(rounds):
            for kind, url in order if round_number % 2 == 0 else reversed(order):
                samples[kind].append(measure(kind, url, c))
                servers.wait_idle(url)  # a slow server still answers clients that have gone
        for runs in samples.values():
            median = sorted(runs, key=lambda r: r["rps"])[(len(runs) - 1) // 2]
            out.append({**median, "rounds_rps": [r["rps"] for r in runs]})
    return out


def paired_ratio(a: dict[str, Any], b: dict[str, Any]) -> float | None:
    """The median over rounds of a's requests/s over b's in the same round: two servers
    measured back to back share the host's speed of the moment, which the ratio of their
    separate medians does not cancel (rounds of one server here spread 0.65x-1.4x)."""
    pairs = [x / y for x, y in zip(a.get("rounds_rps", []), b.get("rounds_rps", [])) if y]
    return statistics.median(pairs) if pairs else None


def both_ratios(a: dict[str, Any], b: dict[str, Any]) -> str:
    """a/b (two results of alternating_rounds) by their median rounds, then paired by round."""
    paired = paired_ratio(a, b)
    by_medians = a["rps"] / b["rps"] if a.get("rps") and b.get("rps") else None
    return "; ".join(f"{r:.2f}x" if r else "-" for r in (by_medians, paired))
