"""`mlserve batch` on a 1,000,000-row CSV: V2 binary tensors against JSON, and against the
batch command as it was before binary tensors and the chunk-at-a-time CSV reader (a git
checkout of `--baseline`), all in one run on the same server.

    python bench/batch_cli.py [--rows 1000000] [--baseline d651dc4]

The server (LogisticRegression, 20 features, 3 classes, as users start it) runs on core 0,
the CLI on core 1. Every variant must write the very same output file as the baseline.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench import models, servers  # noqa: E402

WORK = ROOT / "bench" / ".work"
RESULTS = ROOT / "bench" / "results"
CLI_CORE = "1"
console = Console(width=140)


def write_csv(rows: int) -> Path:
    path = WORK / f"rows-{rows}.csv"
    if not path.exists():
        np.savetxt(path, models.rows(rows), delimiter=",", fmt="%.6g")
    return path


def baseline_checkout(ref: str) -> Path:
    """The repository at `ref`, beside the work tree (its CLI runs on today's packages)."""
    folder = Path(tempfile.gettempdir()) / f"mlserve-baseline-{ref}"
    if not folder.exists():
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(folder), ref],
            check=True,
            capture_output=True,
        )
    return folder


def run_batch(command: list[str], env: dict[str, str]) -> dict[str, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    # Not from the repository's root: `python -m` would import the work tree's mlserve first,
    # whatever PYTHONPATH says (the baseline checkout must be the one imported).
    done = subprocess.run(
        ["taskset", "-c", CLI_CORE, *command], env=env, capture_output=True, text=True, cwd=WORK
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr[-2000:]}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return {"wall_s": wall, "client_cpu_s": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--baseline", default="d651dc4", help="git ref of the JSON-only batch")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    paths = models.build(WORK)
    csv = write_csv(args.rows)
    baseline = baseline_checkout(args.baseline)
    env = {k: v for k, v in os.environ.items() if k not in servers.ONE_THREAD}
    python = sys.executable
    variants: list[tuple[str, list[str], dict[str, str]]] = [
        (
            f"before ({args.baseline}), JSON",
            [python, "-m", "mlserve"],
            {"PYTHONPATH": str(baseline)},
        ),
        ("JSON (--json)", [python, "-m", "mlserve"], {"_ARGS": "--json"}),
        ("V2 binary (default)", [python, "-m", "mlserve"], {}),
        (
            "V2 binary, --chunk-size 10000",
            [python, "-m", "mlserve"],
            {"_ARGS": "--chunk-size 10000"},
        ),
    ]
    results: list[dict[str, Any]] = []
    reference: Path | None = None
    with servers.running("mlserve-batch", paths["lr"], 19500, WORK) as url:
        for name, command, extra in variants:
            out = WORK / f"batch-out-{len(results)}.jsonl"
            flags = extra.get("_ARGS", "").split()
            run_env = {**env, **{k: v for k, v in extra.items() if not k.startswith("_")}}
            server_before = servers.cpu_seconds(url)
            figures = run_batch(
                [*command, "batch", "-i", str(csv), "--out", str(out), "--url", url, "-q", *flags],
                run_env,
            )
            figures["server_cpu_s"] = servers.cpu_seconds(url) - server_before
            same = "identical"
            if reference is None:
                reference = out
            elif not filecmp.cmp(reference, out, shallow=False):
                same = "to 1e-9" if same_answers(reference, out) else "NO"
            results.append({"variant": name, **figures, "same_output": same})
            console.print(
                f"  {name:34s} {figures['wall_s']:6.2f} s  "
                f"client CPU {figures['client_cpu_s']:6.2f} s  "
                f"server CPU {figures['server_cpu_s']:6.2f} s  same output: {same}"
            )
    report(results, args.rows)
    RESULTS.mkdir(exist_ok=True)
    target = RESULTS / f"batch-cli-{time.strftime('%Y%m%d-%H%M%S')}.json"
    target.write_text(json.dumps({"rows": args.rows, "results": results}, indent=2))
    console.print(f"written to {target.relative_to(ROOT)}")


def same_answers(first: Path, second: Path) -> bool:
    """Rows, labels and keys equal, numbers to 1e-9: the server batches concurrent chunks
    together, and a BLAS product's last bits depend on the batch's size."""
    with first.open("rb") as a, second.open("rb") as b:
        for left, right in zip(a, b, strict=False):
            x, y = json.loads(left), json.loads(right)
            if x.keys() != y.keys() or x["row"] != y["row"]:
                return False
            if not isinstance(x["prediction"], float) and x["prediction"] != y["prediction"]:
                return False
            numbers = [(x.get("confidence"), y.get("confidence"))]
            numbers += list(
                zip(
                    (x.get("probabilities") or {}).values(),
                    (y.get("probabilities") or {}).values(),
                    strict=True,
                )
            )
            if isinstance(x["prediction"], float):
                numbers.append((x["prediction"], y["prediction"]))
            for u, v in numbers:
                if u is not None and not np.isclose(u, v, rtol=1e-9, atol=1e-15):
                    return False
    return first.stat().st_size > 0 and sum(1 for _ in first.open()) == sum(
        1 for _ in second.open()
    )


def report(results: list[dict[str, Any]], rows: int) -> None:
    table = Table(
        title=f"mlserve batch, {rows:,}-row CSV, LogisticRegression (server core 0, CLI core 1)"
    )
    for column in (
        "variant",
        "wall s",
        "rows/s",
        "vs before",
        "client CPU s",
        "server CPU s",
        "same output",
    ):
        table.add_column(column, justify="right")
    first = results[0]["wall_s"]
    for r in results:
        table.add_row(
            r["variant"],
            f"{r['wall_s']:.2f}",
            f"{rows / r['wall_s']:,.0f}",
            f"{first / r['wall_s']:.2f}x",
            f"{r['client_cpu_s']:.2f}",
            f"{r['server_cpu_s']:.2f}",
            r["same_output"],
        )
    console.print(table)


if __name__ == "__main__":
    main()
