"""Ray Serve backend (2 replicas) against the single-process server, on this machine.

    python bench/ray_bench.py [--duration 10] [--connections 64]

Both use the whole machine (nothing pinned) and the RandomForest of bench/models.py with
batching on; wrk posts one row per request. On 2 cores the point is that it works and what
the extra hops cost, not that it is faster.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench import load, models, servers  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    path = models.build(ROOT / "bench" / ".work")["rf"]
    results = {}
    for kind in ("mlserve-batch", "mlserve-ray"):
        started = time.monotonic()
        with servers.running(
            kind, path, 19500 + len(results), ROOT / "bench" / ".work", pinned=False
        ) as url:
            ready_s = time.monotonic() - started
            load.wrk(url + "/predict", 16, 3, pinned=False)  # warm-up
            results[kind] = {
                "ready_s": ready_s,
                **load.wrk(url + "/predict", args.connections, args.duration, pinned=False),
            }
    table = Table(title=f"RandomForest, one row per request, c={args.connections}, whole machine")
    for column in ("server", "start to ready (s)", "req/s", "p50 ms", "p99 ms", "errors"):
        table.add_column(column, justify="right")
    for kind, r in results.items():
        table.add_row(
            kind,
            f"{r['ready_s']:.1f}",
            f"{r['rps']:.0f}",
            f"{r['p50_ms']}",
            f"{r['p99_ms']}",
            str(r["errors"]),
        )
    console = Console(width=120)
    console.print(table)
    ratio = results["mlserve-ray"]["rps"] / results["mlserve-batch"]["rps"]
    console.print(f"ray (2 replicas) / single process: {ratio:.2f}x requests/s")
    out = ROOT / "bench" / "results" / f"ray-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
