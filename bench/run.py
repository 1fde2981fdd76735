"""The mlserve benchmark: one command, one table, ratios against baselines run in the same
invocation on the same machine.

    python bench/run.py [--duration 10] [--levels 1,16,64,256] [--rounds 3] [--skip-litserve]

Each server runs pinned to core 0, wrk to core 1. See bench/README.md for the columns.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import joblib  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench import load, models, servers  # noqa: E402
from mlserve.config.schema import ModelSpec  # noqa: E402
from mlserve.engine.integrity import file_sha256  # noqa: E402
from mlserve.runtimes.sklearn import SklearnRuntime  # noqa: E402

WORK = ROOT / "bench" / ".work"
RESULTS = ROOT / "bench" / "results"
SERVERS = [
    "bare-asgi",
    "bare-fastapi",
    "naive",
    "litserve",
    "mlserve-nobatch",
    "mlserve-batch",
    "mlserve-quiet",  # mlserve-batch with --log-level warning: what the access log costs
]
ALONE = ("litserve",)  # measured with no other server up (see single_rows)
BATCH_SIZES = [1, 100, 10_000]
BATCH_KINDS = (
    "naive",
    "mlserve-batch",
    "mlserve-v2-binary",
    "mlserve-v2-binary-x2",
    "batch-wire-floor",  # the same V2 bytes in and out of a server doing nothing else
)
BATCH_SERVERS = {
    "mlserve-v2-binary": "mlserve-batch",
    "mlserve-v2-binary-x2": "mlserve-batch",
    "batch-wire-floor": "wire-floor",
}
console = Console(width=140)


def single_rows(
    paths: dict[str, Path],
    kinds: list[str],
    levels: list[int],
    seconds: float,
    rounds: int = 1,
    threads_env: bool = False,
) -> list[dict[str, Any]]:
    """Every server of a model up at once, measured in alternating rounds at each level
    (load.alternating_rounds). LitServe runs alone: its workers poll while idle."""
    out: list[dict[str, Any]] = []
    for model, path in paths.items():
        groups = [[k] for k in kinds if k in ALONE] + [[k for k in kinds if k not in ALONE]]
        for group in groups:
            port = 18000 + 10 * len(out)
            out += _alternating(model, path, group, levels, seconds, rounds, threads_env, port)
    return out


def _alternating(
    model: str,
    path: Path,
    kinds: list[str],
    levels: list[int],
    seconds: float,
    rounds: int,
    threads_env: bool,
    port: int,
) -> list[dict[str, Any]]:
    with servers.all_running(kinds, path, port, WORK, threads_env) as urls:
        return load.alternating_rounds(
            urls, levels, rounds, lambda kind, url, c: _measure(model, kind, url, c, seconds)
        )


def _measure(model: str, kind: str, url: str, c: int, seconds: float) -> dict[str, Any]:
    cpu_before = servers.cpu_seconds(url)
    result: dict[str, Any] = {"model": model, "server": kind, "c": c}
    with load.health_prober(url, kind.startswith("mlserve")) as health:
        result.update(load.wrk(url + "/predict", c, seconds))
    used = servers.cpu_seconds(url) - cpu_before
    result["cpu_ms"] = used * 1000 / max(result["requests"], 1)
    result["health_p99_ms"] = health.p99_ms()
    console.print(
        f"  {model} {kind:16s} c={c:<4d} {result['rps']:9.1f} req/s "
        f"p99 {result['p99_ms']} ms errors {result['errors']} "
        f"server CPU {result['cpu_ms']:.3f} ms/request "
        f"/health p99 {result['health_p99_ms']} ms"
    )
    return result


def batches(paths: dict[str, Path]) -> list[dict[str, Any]]:
    out = []
    for model, path in paths.items():
        estimator = joblib.load(path)
        os.sched_setaffinity(0, {0})  # the ceilings get the server's core, nothing running
        spec = ModelSpec(name="m", runtime="sklearn", path=path, sha256=file_sha256(path))
        runtime = SklearnRuntime(spec)
        runtime.load()  # after pinning: its pools sized to that one core, as in the server
        # scikit-learn's own predict_proba, and mlserve's runtime call (what its worker thread
        # runs for one batch: may be cheaper than predict_proba, see runtimes/sklearn.py)
        ceiling = {
            n: load.ceiling_rows_per_second(estimator.predict_proba, models.rows(n))
            for n in BATCH_SIZES
        }
        own = {
            n: load.ceiling_rows_per_second(runtime.predict, models.rows(n)) for n in BATCH_SIZES
        }
        os.sched_setaffinity(0, {1})
        answer_bytes: dict[int, int] = {}  # mlserve's V2 answer sizes, for the wire floor
        for kind in BATCH_KINDS:
            server = BATCH_SERVERS.get(kind, kind)
            with servers.running(server, path, 19000 + len(out), WORK) as url:
                for n in BATCH_SIZES:
                    rows = models.rows(n)
                    if kind == "mlserve-v2-binary":
                        answer_bytes[n] = load.v2_binary_answer_bytes(url, "m", rows)
                    if kind == "batch-wire-floor":
                        rate = load.v2_binary_rows_per_second(
                            url, "m", rows, answer_bytes=answer_bytes[n]
                        )
                    elif kind.startswith("mlserve-v2-binary"):
                        in_flight = 2 if kind.endswith("-x2") else 1
                        rate = load.v2_binary_rows_per_second(url, "m", rows, in_flight=in_flight)
                    else:
                        rate = load.batch_rows_per_second(url, rows)
                    out.append(
                        {
                            "model": model,
                            "server": kind,
                            "rows": n,
                            "rows_per_s": rate,
                            "ceiling_rows_per_s": ceiling[n],
                            "runtime_rows_per_s": own[n],
                        }
                    )
                    console.print(
                        f"  {model} {kind:16s} rows={n:<6d} {rate:12.0f} rows/s "
                        f"(ceiling {ceiling[n]:.0f}, mlserve in process {own[n]:.0f})"
                    )
    return out


def cli_times(paths: dict[str, Path]) -> dict[str, float]:
    exe = load.mlserve_bin()
    lr_manifest = servers.manifest(WORK, paths["lr"], 64)
    row = ",".join(["0.1"] * 20)
    with servers.running("mlserve-batch", paths["lr"], 19900, WORK) as url:
        remote = load.command_seconds([exe, "predict", "--features", row, "--url", url])
    return {
        "mlserve --help": load.command_seconds([exe, "--help"]),
        "mlserve predict (remote)": remote,
        "mlserve predict --local": load.command_seconds(
            [exe, "predict", "--features", row, "--local", "--manifest", str(lr_manifest)], runs=3
        ),
    }


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def report(results: dict[str, Any]) -> None:
    single = {(r["model"], r["server"], r["c"]): r for r in results["single"]}
    threads = "thread variables set" if results.get("threads_env") else "no thread variables"
    table = Table(title=f"single row per request: req/s (server on 1 core, {threads})")
    for column in (
        "model",
        "c",
        *results["servers"],
        "mlserve/naive",
        "mlserve/LitServe",
        "p99 mlserve / LitServe (ms)",
        "INFO log / warning (medians; paired rounds)",
        "errors",
    ):
        table.add_column(column, justify="right")
    for model in results["models"]:
        for c in results["levels"]:
            row = {k: single.get((model, k, c), {}) for k in results["servers"]}
            best = row.get("mlserve-batch", {})
            table.add_row(
                model,
                str(c),
                *[f"{row[k].get('rps', 0):.0f}" for k in results["servers"]],
                ratio(best.get("rps"), row.get("naive", {}).get("rps")),
                ratio(best.get("rps"), row.get("litserve", {}).get("rps")),
                f"{best.get('p99_ms')} / {row.get('litserve', {}).get('p99_ms')}",
                load.both_ratios(best, row.get("mlserve-quiet", {})),
                str(sum(r.get("errors", 0) for r in row.values())),
            )
    console.print(table)
    table = Table(title="server CPU per request (ms, every process of the server)")
    for column in (
        "model",
        "c",
        *results["servers"],
        "mlserve / bare FastAPI",
        "mlserve /health p99 (ms)",
    ):
        table.add_column(column, justify="right")
    for model in results["models"]:
        for c in results["levels"]:
            row = {k: single.get((model, k, c), {}) for k in results["servers"]}
            table.add_row(
                model,
                str(c),
                *[f"{row[k].get('cpu_ms', 0):.3f}" for k in results["servers"]],
                ratio(
                    row.get("mlserve-batch", {}).get("cpu_ms"),
                    row.get("bare-fastapi", {}).get("cpu_ms"),
                ),
                str(row.get("mlserve-batch", {}).get("health_p99_ms")),
            )
    console.print(table)
    table = Table(title="/predict/batch rows/s")
    for column in (
        "model",
        "rows/request",
        "naive",
        "mlserve",
        "mlserve V2 binary",
        "V2 binary, 2 in flight",
        "ceiling",
        "mlserve in process",
        "wire floor",
        "mlserve/naive",
        "V2 binary/naive",
        "mlserve/ceiling",
        "V2 binary/ceiling",
        "2 in flight/ceiling",
        "V2 binary/wire floor",
    ):
        table.add_column(column, justify="right")
    batch = {(r["model"], r["server"], r["rows"]): r for r in results["batch"]}
    for model in results["models"]:
        for n in BATCH_SIZES:
            naive, ours = batch[(model, "naive", n)], batch[(model, "mlserve-batch", n)]
            binary = batch[(model, "mlserve-v2-binary", n)]
            binary2 = batch[(model, "mlserve-v2-binary-x2", n)]
            floor = batch[(model, "batch-wire-floor", n)]
            table.add_row(
                model,
                str(n),
                f"{naive['rows_per_s']:.0f}",
                f"{ours['rows_per_s']:.0f}",
                f"{binary['rows_per_s']:.0f}",
                f"{binary2['rows_per_s']:.0f}",
                f"{ours['ceiling_rows_per_s']:.0f}",
                f"{ours['runtime_rows_per_s']:.0f}",
                f"{floor['rows_per_s']:.0f}",
                ratio(ours["rows_per_s"], naive["rows_per_s"]),
                ratio(binary["rows_per_s"], naive["rows_per_s"]),
                ratio(ours["rows_per_s"], ours["ceiling_rows_per_s"]),
                ratio(binary["rows_per_s"], ours["ceiling_rows_per_s"]),
                ratio(binary2["rows_per_s"], ours["ceiling_rows_per_s"]),
                ratio(binary["rows_per_s"], floor["rows_per_s"]),
            )
    console.print(table)
    table = Table(title="CLI wall time (median)")
    table.add_column("command")
    table.add_column("seconds", justify="right")
    for name, seconds in results["cli"].items():
        table.add_row(name, f"{seconds:.3f}")
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10, help="seconds per load level")
    parser.add_argument("--levels", default="1,16,64,256", help="wrk connections")
    parser.add_argument("--skip-litserve", action="store_true")
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating rounds of the servers, median kept"
    )
    parser.add_argument(
        "--threads-env",
        action="store_true",
        help="start every server with OMP/OPENBLAS/MKL_NUM_THREADS=1 (default: as users do)",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True)
    kinds = [k for k in SERVERS if not (args.skip_litserve and k == "litserve")]
    levels = [int(c) for c in args.levels.split(",")]
    paths = models.build(WORK)
    console.print("[bold]single rows[/]")
    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "duration_s": args.duration,
        "levels": levels,
        "servers": kinds,
        "models": list(paths),
        "threads_env": args.threads_env,
        "rounds": args.rounds,
        "single": single_rows(paths, kinds, levels, args.duration, args.rounds, args.threads_env),
    }
    console.print("[bold]batches[/]")
    results["batch"] = batches(paths)
    results["cli"] = cli_times(paths)
    report(results)
    RESULTS.mkdir(exist_ok=True)
    target = RESULTS / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    target.write_text(json.dumps(results, indent=2))
    console.print(f"written to {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
