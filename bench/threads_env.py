"""Does mlserve need thread variables? The same server started with and without
`OMP_NUM_THREADS=1`-style variables, both up at once and measured in alternating rounds of one
run (the machine's own drift between two separate runs is as large as the effect looked for).

    python bench/threads_env.py [--duration 5] [--rounds 3]

mlserve as users start it (INFO access lines, console on), pinned to core 0, wrk on core 1,
one row per request at 64 connections, for the RandomForest and the LogisticRegression of
bench/run.py. Prints the median req/s and server CPU per request of each, and the ratio.
"""

from __future__ import annotations

import argparse
import json
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


def compared(path: Path, port: int, seconds: float, rounds: int) -> dict[str, dict[str, Any]]:
    """The same server with and without the variables, both up at once, measured in
    alternating rounds (load.alternating_rounds): kind -> its median round."""
    with (
        servers.running("mlserve-batch", path, port, WORK) as plain,
        servers.running("mlserve-batch", path, port + 1, WORK, threads_env=True) as with_env,
    ):
        urls = {"plain": plain, "threads_env": with_env}
        runs = load.alternating_rounds(
            urls, [64], rounds, lambda kind, url, c: measure(url, seconds)
        )
    return dict(zip(urls, runs))


def measure(url: str, seconds: float) -> dict[str, Any]:
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
    table = Table(title="64 connections, median of the rounds")
    columns = (
        "model",
        "no variables",
        "variables set",
        "ratio (medians; paired rounds)",
        "CPU/request (ms)",
    )
    for column in columns:
        table.add_column(column, justify="right")
    out: list[dict[str, Any]] = []
    for n, (model, path) in enumerate(paths.items()):
        runs = compared(path, 19300 + 10 * n, args.duration, args.rounds)
        plain, with_env = runs["plain"], runs["threads_env"]
        out.append({"model": model, "plain": plain, "threads_env": with_env})
        console.print(f"  {model}: {plain['rounds_rps']} without, {with_env['rounds_rps']} with")
        table.add_row(
            model,
            f"{plain['rps']:.0f} req/s",
            f"{with_env['rps']:.0f} req/s",
            load.both_ratios(plain, with_env),
            f"{plain['cpu_ms']:.3f} / {with_env['cpu_ms']:.3f}",
        )
    console.print(table)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"threads-env-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"rounds": args.rounds, "results": out}, indent=2))
    console.print(f"written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
