"""A capacity model of the Ray backend, from two measured costs, checked at the point this
machine can measure.

    python bench/capacity.py [--duration 10]

For a light model (LogisticRegression, 20 features, one row per request) and a heavy one (the
sample sentiment transformer, one text per request), one front and one replica on a local Ray
instance take 64 connections. From `/proc` and the front's own metrics:

  front cost     CPU seconds of the `mlserve serve` process per request (HTTP, validation,
                 batching, one Ray call per batch)
  replica cost   CPU seconds of the replica processes per batch, and the mean batch size

A node of K cores serves at most 1 / front cost requests per second (the front is one Python
event loop), and its K cores are shared by all the work, the front's and the replicas' (a
replica's framework uses every core it is given: torch's threads do). So one node serves

    min(1 / front cost, K / (front cost + replica cost per row))

requests per second, and N nodes behind a load balancer N times that (fronts share nothing;
each node runs its own replicas). The table predicts 1 to 16 nodes of 2 and of 8 cores, and
sets the one point measured here (one node of this machine's cores) next to its prediction.
(Ray's own processes, the raylet, GCS and Serve controller, are left out: on 2 cores they are
what the prediction misses.)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench import load, models  # noqa: E402

RESULTS = ROOT / "bench" / "results"
CONNECTIONS = 64
NODES = (1, 2, 4, 8, 16)
CORES = (2, 8)
TICK = os.sysconf("SC_CLK_TCK")
TEXT_LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"text": "A warm, funny and beautifully acted film; I loved every minute of it."}'
"""


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def replica_cpu() -> float:
    """CPU seconds of every Ray Serve replica process of the mlserve models."""
    total = 0.0
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if b"ServeReplica:mlserve:model-" in cmdline.read_bytes():
                total += process_cpu(int(cmdline.parent.name))
        except (OSError, ValueError):
            continue
    return total


def batches(url: str, model: str) -> tuple[float, float]:
    """(model calls, rows) so far, from the front's metrics."""
    text = httpx.get(url + "/metrics", timeout=30).text
    count = re.search(rf'mlserve_batch_rows_count{{model="{model}",version="v1"}} ([\d.e+]+)', text)
    rows = re.search(rf'mlserve_batch_rows_sum{{model="{model}",version="v1"}} ([\d.e+]+)', text)
    return (float(count.group(1)) if count else 0.0), (float(rows.group(1)) if rows else 0.0)


def measure(name: str, manifest: Path, route: str, lua: Path, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryFile() as log:
        return _measure(name, manifest, route, lua, seconds, log)


def _measure(
    name: str, manifest: Path, route: str, lua: Path, seconds: float, log: Any
) -> dict[str, Any]:
    port = 19600
    url = f"http://127.0.0.1:{port}"
    mlserve = str(Path(sys.executable).parent / "mlserve")
    ray_front = ["--backend", "ray", "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(
        [mlserve, "serve", str(manifest), *ray_front],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                if httpx.get(url + "/ready", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(log.read().decode()[-3000:])
            time.sleep(0.5)
        load.wrk(url + route, 16, 3, pinned=False, script=lua)  # warm-up
        front0, replica0, (calls0, rows0) = process_cpu(proc.pid), replica_cpu(), batches(url, "m")
        result = load.wrk(url + route, CONNECTIONS, seconds, pinned=False, script=lua)
        front1, replica1, (calls1, rows1) = process_cpu(proc.pid), replica_cpu(), batches(url, "m")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        time.sleep(2)
    calls = max(calls1 - calls0, 1.0)
    return {
        "model": name,
        **result,
        "front_ms_per_request": 1000 * (front1 - front0) / max(result["requests"], 1),
        "replica_ms_per_batch": 1000 * (replica1 - replica0) / calls,
        "rows_per_batch": (rows1 - rows0) / calls,
    }


def node_capacity(m: dict[str, Any], cores: int) -> float:
    front_s = m["front_ms_per_request"] / 1000
    replica_s_per_row = m["replica_ms_per_batch"] / 1000 / m["rows_per_batch"]
    return min(1 / front_s, cores / (front_s + replica_s_per_row))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--report", type=Path, help="print the tables of a saved run")
    args = parser.parse_args()
    if args.report:
        report(json.loads(args.report.read_text()))
        return
    work = ROOT / "bench" / ".work" / "capacity"
    work.mkdir(parents=True, exist_ok=True)
    lr = models.build(ROOT / "bench" / ".work")["lr"]
    light = work / "light.yaml"
    light.write_text(
        f"models:\n  - {{name: m, runtime: sklearn, path: {lr}, replicas: 1,"
        " batching: {max_batch_size: 64}, resources: {num_cpus: 1}}\n"
    )
    heavy = work / "heavy.yaml"
    sentiment = ROOT / "sample_models" / "sentiment"
    heavy.write_text(
        f"models:\n  - {{name: m, runtime: transformers, path: {sentiment}, replicas: 1,"
        " max_length: 128, batching: {max_batch_size: 32}, resources: {num_cpus: 1}}\n"
    )
    text_lua = work / "text.lua"
    text_lua.write_text(TEXT_LUA)
    measured = [
        measure("LogisticRegression", light, "/predict", load.LUA, args.duration),
        measure("sentiment transformer", heavy, "/classify", text_lua, args.duration),
    ]
    report(measured)
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"capacity-{stamp}.json").write_text(json.dumps(measured, indent=2))


def report(measured: list[dict[str, Any]]) -> None:
    console = Console(width=130)
    costs = Table(title=f"measured here: one front + one replica, {CONNECTIONS} connections")
    for column in (
        "model",
        "req/s",
        "p99 ms",
        "front ms/request",
        "replica ms/batch",
        "rows/batch",
    ):
        costs.add_column(column, justify="right")
    for m in measured:
        costs.add_row(
            m["model"],
            f"{m['rps']:,.0f}",
            f"{m['p99_ms']:.1f}",
            f"{m['front_ms_per_request']:.3f}",
            f"{m['replica_ms_per_batch']:.2f}",
            f"{m['rows_per_batch']:.1f}",
        )
    console.print(costs)
    table = Table(title="predicted requests/s, N nodes x K cores (one front each)")
    table.add_column("model")
    for nodes in NODES:
        for cores in CORES:
            table.add_column(f"{nodes}x{cores}", justify="right")
    for m in measured:
        table.add_row(
            m["model"],
            *(f"{n * node_capacity(m, k):,.0f}" for n in NODES for k in CORES),
        )
    console.print(table)
    here = os.cpu_count() or 2
    for m in measured:
        predicted = node_capacity(m, here)
        console.print(
            f"{m['model']}: one node of {here} cores predicted {predicted:,.0f} req/s, measured "
            f"{m['rps']:,.0f} ({m['rps'] / predicted:.2f}x)"
        )


if __name__ == "__main__":
    main()
