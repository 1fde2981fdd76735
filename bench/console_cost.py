"""What the console costs prediction throughput: the c=64 RandomForest case (one row per
request) served with the console on, while a poller reads its stats every 2 s as an open
page does, and with it off (`--no-console`), in the same run.

    python bench/console_cost.py [--duration 10] [--rounds 3]

On and off alternate for each round (so drift of the machine hits both alike); the table
gives each side's median req/s and p99 over the rounds and the ratio on/off. Servers are
pinned to core 0, wrk to core 1, as in bench/run.py.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench import load, models, servers  # noqa: E402
from mlserve import wire  # noqa: E402

WORK = ROOT / "bench" / ".work"
CONNECTIONS = 64
POLL_S = 2.0  # the console page's poll interval
console = Console(width=120)


def poll_stats(url: str, stop: threading.Event, polls: list[int]) -> None:
    with httpx.Client(timeout=10) as client:
        while not stop.wait(POLL_S):
            client.get(url + wire.CONSOLE_STATS).raise_for_status()
            polls[0] += 1


def measure(kind: str, model: Path, port: int, seconds: float) -> dict[str, Any]:
    with servers.running(kind, model, port, WORK) as url:
        load.wrk(url + "/predict", 16, 2.0)  # warm-up
        stop, polls = threading.Event(), [0]
        poller = None
        if kind == "mlserve-batch":
            poller = threading.Thread(target=poll_stats, args=(url, stop, polls), daemon=True)
            poller.start()
        result = load.wrk(url + "/predict", CONNECTIONS, seconds)
        stop.set()
        if poller is not None:
            poller.join()
        return {**result, "polls": polls[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    model = models.build(WORK)["rf"]
    runs: dict[str, list[dict[str, Any]]] = {"mlserve-batch": [], "mlserve-batch-noconsole": []}
    for round_number in range(args.rounds):
        for index, kind in enumerate(runs):
            result = measure(kind, model, 18500 + 2 * round_number + index, args.duration)
            runs[kind].append(result)
            console.print(
                f"  round {round_number + 1} {kind:24s} {result['rps']:8.1f} req/s "
                f"p99 {result['p99_ms']} ms errors {result['errors']} stats polls {result['polls']}"
            )
    table = Table(title=f"RandomForest, one row per request, c={CONNECTIONS} (median of rounds)")
    for column in ("console", "req/s", "p99 ms", "errors", "stats polls"):
        table.add_column(column, justify="right")
    medians = {}
    for kind, label in (("mlserve-batch", "on, polled"), ("mlserve-batch-noconsole", "off")):
        rps = statistics.median(r["rps"] for r in runs[kind])
        medians[kind] = rps
        table.add_row(
            label,
            f"{rps:.0f}",
            f"{statistics.median(r['p99_ms'] for r in runs[kind]):.1f}",
            str(sum(r["errors"] for r in runs[kind])),
            str(sum(r["polls"] for r in runs[kind])),
        )
    console.print(table)
    on, off = medians["mlserve-batch"], medians["mlserve-batch-noconsole"]
    console.print(f"throughput with the console / without: {on / off:.3f}")


if __name__ == "__main__":
    main()
