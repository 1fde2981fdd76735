"""Does mlserve need thread variables? The same server started with and without
`OMP_NUM_THREADS=1`-style variables, in alternating rounds of one run (the machine's own drift
between two separate runs of bench/run.py is as large as the effect looked for).

    python bench/threads_env.py [--duration 5] [--rounds 3]

mlserve as users start it (INFO access lines, console on), pinned to core 0, wrk on core 1,
one row per request at 64 connections, for the RandomForest and the LogisticRegression of
bench/run.py. Prints the median req/s and server CPU per request of each, and the ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench import load, models, servers  # noqa: E402

WORK = ROOT / "bench" / ".work"
RESULTS = ROOT / "bench" / "results"
console = Console(width=140)


def one_round(path: Path, threads_env: bool, port: int, seconds: float) -> dict[str, float]:
    with servers.running("mlserve-batch", path, port, WORK, threads_env=threads_env) as url:
        load.wrk(url + "/predict", 64, 1)  # warm-up
        cpu_before = servers.cpu_seconds(url)
        result = load.wrk(url + "/predict", 64, seconds)
        cpu = servers.cpu_seconds(url) - cpu_before
    return {"rps": result["rps"], "cpu_ms": cpu / max(result["requests"], 1) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    paths = models.build(WORK)
    rounds: dict[tuple[str, bool], list[dict[str, float]]] = {}
    port = 19300
    for n in range(args.rounds):
        for model, path in paths.items():
            for threads_env in (n % 2 == 1, n % 2 == 0):  # alternate which goes first
                port += 1
                measured = one_round(path, threads_env, port, args.duration)
                rounds.setdefault((model, threads_env), []).append(measured)
                console.print(f"  {model} thread variables={threads_env}: {measured}")
    table = Table(title="64 connections, median of the rounds")
    for column in ("model", "no variables", "variables set", "ratio", "CPU/request (ms)"):
        table.add_column(column, justify="right")
    out: list[dict[str, Any]] = []
    for model in paths:
        plain = _median(rounds[(model, False)])
        with_env = _median(rounds[(model, True)])
        out.append({"model": model, "plain": plain, "threads_env": with_env})
        table.add_row(
            model,
            f"{plain['rps']:.0f} req/s",
            f"{with_env['rps']:.0f} req/s",
            f"{plain['rps'] / with_env['rps']:.2f}x",
            f"{plain['cpu_ms']:.3f} / {with_env['cpu_ms']:.3f}",
        )
    console.print(table)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"threads-env-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"rounds": args.rounds, "results": out}, indent=2))
    console.print(f"written to {path.relative_to(ROOT)}")


def _median(measured: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(m[key] for m in measured) for key in measured[0]}


if __name__ == "__main__":
    main()
