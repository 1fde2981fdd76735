"""Latency while models change: p99 during reloads next to p99 without, and p50 with a
shadow next to p50 without, from one run of one server.

    python bench/swaps.py [--duration 8] [--rounds 2]

The server (pinned to core 0, INFO log, no thread variables) serves LogisticRegression v1, v2
and v3 (20 features); wrk (core 1) sends one row per request to the model's routed route at
64 connections. Phases, repeated `--rounds` times in turn so that drift hits them alike:
  steady     nothing changes
  swapping   every 0.5 s the manifest is edited and reloaded (default, alias and split move;
             v3 leaves and comes back; v2's file changes), or v3 is unloaded and loaded
  shadow     a copy of every request goes to v3 (answers compared, never returned)
and, at one connection (what a shadow adds to an answer's latency when the server has CPU to
spare, since its call runs after the answer is sent): steady-1 and shadow-1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench import load, models, servers  # noqa: E402
from mlserve import wire  # noqa: E402

WORK = ROOT / "bench" / ".work" / "swaps"
RESULTS = ROOT / "bench" / "results"
CONNECTIONS = 64
SWAP_EVERY_S = 0.5
V3 = {"parameters": {"version": "v3"}}
FILES = {"v1": "a.joblib", "v2": "b.joblib", "v3": "c.joblib"}
EDITS = [
    (FILES, "v1", "{aliases: {stable: v1}}"),
    (FILES, "v2", "{aliases: {stable: v2}, traffic: {v1: 50, v2: 50}}"),
    ({"v1": "a.joblib", "v2": "b.joblib"}, "v1", "{aliases: {stable: v1}}"),
    ({**FILES, "v2": "b2.joblib"}, "v2", "{aliases: {stable: v2}, traffic: {v1: 90, v2: 10}}"),
]


def manifest_text(files: dict[str, str], default: str, routing: str) -> str:
    lines = ["models:"]
    for version, path in files.items():
        flag = ", default: true" if version == default else ""
        lines.append(
            f"  - {{name: m, version: {version}, runtime: sklearn, path: {path}{flag},"
            " batching: {max_batch_size: 64, max_wait_ms: 2}}"
        )
    return "\n".join(lines) + f"\nrouting:\n  m: {routing}\n"


def prepare() -> Path:
    WORK.mkdir(parents=True, exist_ok=True)
    lr = models.build(ROOT / "bench" / ".work")["lr"]
    for name in ("a", "b", "c", "b2"):
        shutil.copy(lr, WORK / f"{name}.joblib")
    path = WORK / "models.yaml"
    path.write_text(manifest_text(*EDITS[0]))
    return path


class Swapper(threading.Thread):
    """Edits and reloads the manifest, or unloads and loads v3, every SWAP_EVERY_S."""

    def __init__(self, url: str, path: Path) -> None:
        super().__init__(daemon=True)
        self.url, self.path = url, path
        self.stop = threading.Event()
        self.swaps = 0
        self.failures: list[str] = []

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=60) as http:
            while not self.stop.wait(SWAP_EVERY_S):
                step = self.swaps % (len(EDITS) + 2)
                if step < len(EDITS):
                    self.path.write_text(manifest_text(*EDITS[step]))
                    answer = http.post(wire.RELOAD)
                elif step == len(EDITS):  # EDITS[-1] routes nothing to v3
                    route = wire.V2_REPOSITORY_UNLOAD
                    answer = http.post(route.replace("{name}", "m"), json=V3)
                else:
                    answer = http.post(wire.V2_REPOSITORY_LOAD.replace("{name}", "m"), json=V3)
                if answer.status_code != 200:
                    self.failures.append(answer.text)
                self.swaps += 1


def reload_to(url: str, path: Path, routing: str) -> None:
    path.write_text(manifest_text(FILES, "v1", routing))
    httpx.post(url + wire.RELOAD, timeout=60).raise_for_status()
    load_v3 = url + wire.V2_REPOSITORY_LOAD.replace("{name}", "m")
    httpx.post(load_v3, json={"parameters": {"version": "v3"}}, timeout=60).raise_for_status()


def measure(url: str, path: Path, phase: str, seconds: float) -> dict[str, Any]:
    route = url + "/models/m/predict"
    connections = 1 if phase.endswith("-1") else CONNECTIONS
    if phase == "swapping":
        reload_to(url, path, "{aliases: {stable: v1}}")
        swapper = Swapper(url, path)
        swapper.start()
        result = load.wrk(route, connections, seconds)
        swapper.stop.set()
        swapper.join()
        result.update(swaps=swapper.swaps, swap_failures=len(swapper.failures))
    else:
        shadowed = phase.startswith("shadow")
        reload_to(url, path, "{shadow: {version: v3}}" if shadowed else "{aliases: {stable: v1}}")
        result = load.wrk(route, connections, seconds)
    return {"phase": phase, "connections": connections, **result}


def run(duration: float, rounds: int) -> list[dict[str, Any]]:
    path = prepare()
    port = 8790
    log = (WORK / "server.log").open("wb")
    mlserve = str(Path(sys.executable).parent / "mlserve")
    proc = subprocess.Popen(
        ["taskset", "-c", servers.SERVER_CORE, mlserve, "serve", str(path), "--port", str(port)],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k not in servers.ONE_THREAD},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    results = []
    try:
        servers.wait_until_serving(url, proc, log.name)
        load.wrk(url + "/models/m/predict", 16, 2)  # warm-up
        for _ in range(rounds):
            for phase in ("steady", "swapping", "shadow", "steady-1", "shadow-1"):
                results.append(measure(url, path, phase, duration))
        info = httpx.get(url + wire.MODEL_INFO).json()
        results.append({"phase": "shadow-info", **info["routing"]["m"].get("shadow", {})})
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()
    return results


def median(rows: list[dict[str, Any]], phase: str, key: str) -> float:
    values = sorted(r[key] for r in rows if r["phase"] == phase and r.get(key) is not None)
    return values[len(values) // 2]


def report(rows: list[dict[str, Any]]) -> None:
    table = Table(title=f"mlserve while models change ({CONNECTIONS} connections, one row)")
    for column in ("phase", "connections", "req/s", "p50 ms", "p99 ms", "errors", "swaps"):
        table.add_column(column, justify="right")
    for row in rows:
        if row["phase"] == "shadow-info":
            continue
        table.add_row(
            row["phase"],
            str(row["connections"]),
            f"{row['rps']:,.0f}",
            f"{row['p50_ms']:.2f}",
            f"{row['p99_ms']:.2f}",
            str(row["errors"]),
            str(row.get("swaps", "")),
        )
    console = Console()
    console.print(table)
    steady_p99, swap_p99 = median(rows, "steady", "p99_ms"), median(rows, "swapping", "p99_ms")
    steady_p50, shadow_p50 = median(rows, "steady", "p50_ms"), median(rows, "shadow", "p50_ms")
    one_p50, one_shadow_p50 = median(rows, "steady-1", "p50_ms"), median(rows, "shadow-1", "p50_ms")
    console.print(
        f"p99 during swaps / without: {swap_p99:.2f} / {steady_p99:.2f} ms = "
        f"{swap_p99 / steady_p99:.2f}x\n"
        f"p50 with a shadow / without, 1 connection: {one_shadow_p50:.3f} / {one_p50:.3f} ms = "
        f"{one_shadow_p50 / one_p50:.2f}x; {CONNECTIONS} connections (the server's one core "
        f"saturated: the shadow's CPU): {shadow_p50:.2f} / {steady_p50:.2f} ms = "
        f"{shadow_p50 / steady_p50:.2f}x\n"
        f"failed requests: {sum(r.get('errors', 0) for r in rows)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per phase")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    rows = run(args.duration, args.rounds)
    report(rows)
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"swaps-{stamp}.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
