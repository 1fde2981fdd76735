"""The same model over gRPC and over REST (the Open Inference Protocol both ways), from one
run of one server, alternating rounds.

    python bench/grpc_bench.py [--duration 6] [--rounds 3]

One `mlserve serve` (pinned to core 0) serves the benchmark LogisticRegression (20 features,
batching up to 64 rows); the clients are tritonclient's aio clients in one process pinned to
core 1 (`tritonclient.http.aio` with binary tensors, `tritonclient.grpc.aio` with raw
contents), each running `--connections` calls at once for `--duration` seconds:
  single rows   one row per call at 64 calls in flight: calls per second
  10,000 rows   one 10,000-row FP32 batch per call, one call in flight: rows per second,
                next to the in-process ceiling (the model's own `predict_proba` on the batch)
Rounds alternate REST and gRPC (every other round in reverse order); each keeps its median
round, and the ratio column is the median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench import models, servers  # noqa: E402

WORK = ROOT / "bench" / ".work" / "grpc"
HTTP_PORT, GRPC_PORT = 8410, 8411
CLIENT_CORE = "1"


async def calls_per_second(kind: str, rows: int, connections: int, duration: float) -> float:
    """Run in the client process: `connections` calls at once for `duration` seconds."""
    import numpy as np

    if kind == "grpc":
        import tritonclient.grpc.aio as client_module

        client: Any = client_module.InferenceServerClient(f"127.0.0.1:{GRPC_PORT}")
    else:
        import tritonclient.http.aio as client_module

        client = client_module.InferenceServerClient(
            f"127.0.0.1:{HTTP_PORT}", conn_limit=connections
        )
    data = models.rows(rows).astype(np.float32)
    tensor = client_module.InferInput("input", list(data.shape), "FP32")
    if kind == "grpc":
        tensor.set_data_from_numpy(data)
    else:
        tensor.set_data_from_numpy(data, binary_data=True)
    outputs = [
        client_module.InferRequestedOutput(
            name, **({} if kind == "grpc" else {"binary_data": True})
        )
        for name in ("label", "confidence", "probabilities")
    ]
    done = 0
    deadline = time.perf_counter() + duration

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await client.infer("m", [tensor], outputs=outputs)
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    await client.close()
    return done / elapsed


def measure(kind: str, rows: int, connections: int, duration: float) -> float:
    """One round, in a client process on its own core."""
    command = [
        "taskset", "-c", CLIENT_CORE, sys.executable, __file__,
        "--client", kind, "--rows", str(rows), "--connections", str(connections),
        "--duration", str(duration),
    ]  # fmt: skip
    done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT)
    return float(json.loads(done.stdout.strip().splitlines()[-1]))


def ceiling(model: Path, rows: int) -> float:
    import joblib

    from bench.load import ceiling_rows_per_second

    fitted = joblib.load(model)
    batch = models.rows(rows).astype("float32")
    return ceiling_rows_per_second(fitted.predict_proba, batch)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--connections", type=int, default=64, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        rate = asyncio.run(
            calls_per_second(args.client, args.rows, args.connections, args.duration)
        )
        print(json.dumps(rate))
        return
    WORK.mkdir(parents=True, exist_ok=True)
    model = models.build(WORK)["lr"]
    manifest = servers.manifest(WORK, model, batch_size=64)
    command = [
        "taskset", "-c", servers.SERVER_CORE, sys.executable, "-m", "mlserve", "serve",
        str(manifest), "--port", str(HTTP_PORT), "--grpc-port", str(GRPC_PORT),
        "--log-level", "warning",
    ]  # fmt: skip
    server = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{HTTP_PORT}"
    servers.GROUPS[url] = server.pid  # wait_idle reads the server's CPU time by its group
    try:
        servers.wait_until_serving(url, server, "/dev/null")
        results: dict[tuple[str, str], list[float]] = {}
        loads = [("single rows, 64 calls", 1, 64), ("10,000 rows, 1 call", 10_000, 1)]
        for name, rows, connections in loads:
            for kind in ("rest", "grpc"):
                measure(kind, rows, connections, 1.0)  # warm-up
            for round_number in range(args.rounds):
                order = ("rest", "grpc") if round_number % 2 == 0 else ("grpc", "rest")
                for kind in order:
                    rate = measure(kind, rows, connections, args.duration)
                    results.setdefault((name, kind), []).append(rate * rows)
                    servers.wait_idle(url)
        in_process = ceiling(model, 10_000)
    finally:
        server.terminate()
        server.wait(timeout=60)
    table = Table(
        title=f"REST vs gRPC, one server (core 0), clients on core 1, {args.rounds} rounds"
    )
    for column in ("load", "REST rows/s", "gRPC rows/s", "gRPC / REST", "of in-process"):
        table.add_column(column)
    for name, rows, _ in loads:
        rest, grpc = results[(name, "rest")], results[(name, "grpc")]
        ratio = statistics.median(g / r for g, r in zip(grpc, rest, strict=True))
        share = (
            ""
            if rows == 1
            else (
                f"REST {statistics.median(rest) / in_process:.0%}, "
                f"gRPC {statistics.median(grpc) / in_process:.0%}"
            )
        )
        table.add_row(
            name,
            f"{statistics.median(rest):,.0f}",
            f"{statistics.median(grpc):,.0f}",
            f"{ratio:.2f}x",
            share,
        )
    Console().print(table)
    print(f"in-process ceiling (predict_proba on 10,000 FP32 rows): {in_process:,.0f} rows/s")


if __name__ == "__main__":
    main()
