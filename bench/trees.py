"""Tree ensembles, native and compiled to ONNX Runtime (`accelerate: onnx`), against the naive
app and LitServe serving the same native model file, in one run.

    python bench/trees.py [--duration 10] [--rounds 3] [--skip-litserve] [--distinct-rows]
                          [--xgb-classes 2]

Models: the RandomForest of bench/run.py (100 trees, 20 features, scikit-learn) and an XGBoost
classifier (200 boosting rounds, 20 features, its native .json): binary by default, so 200
trees like the credit sample; `--xgb-classes 3` gives 200 trees per class (600 in all).
Each server is pinned to core 0 and wrk to core 1, one row per request, at 1 and 64
connections; the naive app and mlserve's native and converted servers run side by side and
are measured in alternating rounds (median kept).
A first table gives the in-process cost of one call (one row, 64 rows) of each model natively
and converted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import joblib  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench import load, models, servers  # noqa: E402
from mlserve.config.schema import ModelSpec  # noqa: E402
from mlserve.runtimes import resolve_runtime  # noqa: E402

WORK = ROOT / "bench" / ".work"
RESULTS = ROOT / "bench" / "results"
LEVELS = (1, 64)
# measured in alternating rounds (see compared); LitServe runs alone: its workers poll
COMPARED = ("naive", "mlserve-batch", "mlserve-onnx")
console = Console(width=150)


def build_xgboost(folder: Path, classes: int) -> Path:
    import xgboost
    from sklearn.datasets import make_classification

    path = folder / f"xgb-{classes}classes.json"
    if not path.exists():
        x, y = make_classification(
            n_samples=5000,
            n_features=models.FEATURES,
            n_informative=10,
            n_classes=classes,
            random_state=0,
        )
        xgboost.XGBClassifier(n_estimators=200, max_depth=6, random_state=0).fit(x, y).save_model(
            path
        )
    return path


def per_call_ms(call: Callable[[], Any], min_seconds: float = 1.0) -> float:
    call()
    done, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < min_seconds or done < 5:
        call()
        done += 1
    return elapsed / done * 1000


def in_process(paths: dict[str, Path]) -> list[dict[str, Any]]:
    out = []
    for name, path in paths.items():
        runtime = "xgboost" if path.suffix == ".json" else "sklearn"
        spec = ModelSpec(name="m", runtime=runtime, path=path, accelerate="onnx")
        fast = resolve_runtime(runtime)(spec)
        fast.load()
        compiled = fast._compiled  # type: ignore[attr-defined]
        assert compiled is not None, fast.describe().notes
        if runtime == "sklearn":
            model = joblib.load(path)
            native = model.predict_proba
        else:
            native = fast._scores  # type: ignore[attr-defined]
        for n in (1, 64):
            rows = models.rows(n)
            native_ms = per_call_ms(lambda rows=rows, f=native: f(rows))
            onnx_ms = per_call_ms(lambda rows=rows, f=compiled.scores: f(rows))
            out.append({"model": name, "rows": n, "native_ms": native_ms, "onnx_ms": onnx_ms})
            console.print(
                f"  {name} rows={n}: native {native_ms:.4f} ms, onnx {onnx_ms:.4f} ms "
                f"({native_ms / onnx_ms:.0f}x)"
            )
    return out


def served(
    paths: dict[str, Path], kinds: list[str], seconds: float, rounds: int, script: Path
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name, path in paths.items():
        baselines = [k for k in kinds if k not in COMPARED]
        for kind in baselines:
            with servers.running(kind, path, 18700 + len(out), WORK) as url:
                load.wrk(url + "/predict", 16, min(2.0, seconds))  # warm-up
                for c in LEVELS:
                    out.append(measure(name, kind, url, c, seconds, script))
        out += compared(name, path, seconds, rounds, script, port=18750 + len(out))
    return out


def compared(
    name: str, path: Path, seconds: float, rounds: int, script: Path, port: int
) -> list[dict[str, Any]]:
    """The naive app, mlserve native and `accelerate: onnx`, all serving at once on the same
    core, measured in alternating rounds (load.alternating_rounds)."""
    with servers.all_running(list(COMPARED), path, port, WORK) as urls:
        return load.alternating_rounds(
            urls,
            list(LEVELS),
            rounds,
            lambda kind, url, c: measure(name, kind, url, c, seconds, script),
        )


def measure(name: str, kind: str, url: str, c: int, seconds: float, script: Path) -> dict[str, Any]:
    result = {
        "model": name,
        "server": kind,
        "c": c,
        **load.wrk(url + "/predict", c, seconds, script=script),
    }
    console.print(
        f"  {name} {kind:14s} c={c:<3d} {result['rps']:9.1f} req/s "
        f"p50 {result['p50_ms']} ms p99 {result['p99_ms']} ms errors {result['errors']}"
    )
    return result


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.1f}x" if a and b else "-"


def report(calls: list[dict[str, Any]], runs: list[dict[str, Any]], kinds: list[str]) -> None:
    table = Table(title="in process: one call (ms)")
    for column in ("model", "rows", "native", "ONNX Runtime", "native / ONNX"):
        table.add_column(column, justify="right")
    for r in calls:
        table.add_row(
            r["model"],
            str(r["rows"]),
            f"{r['native_ms']:.4f}",
            f"{r['onnx_ms']:.4f}",
            f"{r['native_ms'] / r['onnx_ms']:.0f}x",
        )
    console.print(table)
    by = {(r["model"], r["server"], r["c"]): r for r in runs}
    table = Table(title="one row per request (server on 1 core, wrk on the other)")
    columns = [
        "model",
        "c",
        *kinds,
        "onnx / native (medians; paired rounds)",
        "onnx / naive (medians; paired rounds)",
        "onnx / LitServe",
        "p50 native / onnx (ms)",
        "p99 native / onnx (ms)",
        "errors",
    ]
    for column in columns:
        table.add_column(column, justify="right")
    for name in dict.fromkeys(r["model"] for r in runs):
        for c in LEVELS:
            row = {k: by.get((name, k, c), {}) for k in kinds}
            fast, native = row.get("mlserve-onnx", {}), row.get("mlserve-batch", {})
            table.add_row(
                name,
                str(c),
                *[f"{row[k].get('rps', 0):.0f}" for k in kinds],
                load.both_ratios(fast, native),
                load.both_ratios(fast, row.get("naive", {})),
                ratio(fast.get("rps"), row.get("litserve", {}).get("rps")),
                f"{native.get('p50_ms')} / {fast.get('p50_ms')}",
                f"{native.get('p99_ms')} / {fast.get('p99_ms')}",
                str(sum(r.get("errors", 0) for r in row.values())),
            )
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10, help="seconds per load level")
    parser.add_argument("--skip-litserve", action="store_true")
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating rounds of native and onnx mlserve"
    )
    parser.add_argument(
        "--distinct-rows",
        action="store_true",
        help="a different row each request (bench/rows.lua) instead of one fixed row",
    )
    parser.add_argument(
        "--xgb-classes",
        type=int,
        default=2,
        help="classes of the XGBoost model: 200 trees each (one tree per round when binary)",
    )
    args = parser.parse_args()
    xgb = build_xgboost(WORK, args.xgb_classes)
    paths = {"RandomForest": models.build(WORK)["rf"], "XGBoost": xgb}
    kinds = ["naive", "litserve", "mlserve-batch", "mlserve-onnx"]
    if args.skip_litserve:
        kinds.remove("litserve")
    console.print("[bold]in process[/]")
    calls = in_process(paths)
    console.print("[bold]served[/]")
    script = load.ROWS_LUA if args.distinct_rows else load.LUA
    runs = served(paths, kinds, args.duration, args.rounds, script)
    report(calls, runs, kinds)
    RESULTS.mkdir(exist_ok=True)
    target = RESULTS / f"trees-{time.strftime('%Y%m%d-%H%M%S')}.json"
    target.write_text(json.dumps({"calls": calls, "served": runs}, indent=2))
    console.print(f"written to {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
