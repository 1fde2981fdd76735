"""Start-up: how long `load: startup` models take to load one at a time (a CPU budget of
one) and concurrently (a budget of two), from one run, alternating rounds.

    python bench/startup.py [--models 40] [--rounds 3]

The manifest names `--models` random forests (50 trees on 20 features, 5,000 rows, saved
with joblib) and as many gradient-boosted models (XGBoost, native JSON); the first load of
each runtime imports its framework and is outside the timing (every round runs in a fresh
interpreter that has imported both already). The figure is the engine's own: the time
`ModelRegistry.load_startup()` takes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

WORK = ROOT / "bench" / ".work" / "startup"


def build(count: int) -> None:
    import joblib
    import numpy as np
    import xgboost
    from sklearn.ensemble import RandomForestClassifier

    WORK.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5_000, 20))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    for i in range(count):
        forest = WORK / f"forest-{i}.joblib"
        if not forest.exists():
            joblib.dump(RandomForestClassifier(50, random_state=i).fit(x, y), forest)
        boosted = WORK / f"xgb-{i}.json"
        if not boosted.exists():
            xgboost.XGBClassifier(n_estimators=50, random_state=i).fit(x, y).save_model(boosted)


def manifest(count: int, cpus: int) -> Path:
    lines = [f"server: {{cpus: {cpus}}}", "models:"]
    for i in range(count):
        lines.append(f"  - {{name: forest-{i}, runtime: sklearn, path: forest-{i}.joblib}}")
        lines.append(f"  - {{name: xgb-{i}, runtime: xgboost, path: xgb-{i}.json}}")
    path = WORK / f"models-{count}-{cpus}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def one_round(path: Path) -> float:
    """Run in a fresh interpreter: import both frameworks, then time the engine's loads."""
    import logging

    logging.disable(logging.WARNING)
    import sklearn.ensemble  # noqa: F401
    import xgboost  # noqa: F401

    from mlserve.config.load import load_manifest
    from mlserve.engine.registry import ModelRegistry

    registry = ModelRegistry(load_manifest(path))
    started = time.perf_counter()
    asyncio.run(registry.load_startup())
    elapsed = time.perf_counter() - started
    assert registry.ready, registry.states()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_round(args.one)))
        return
    build(args.models)
    times: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(args.rounds):
        for cpus in (1, 2):
            run = [sys.executable, __file__, "--one", str(manifest(args.models, cpus))]
            out = subprocess.run(run, check=True, capture_output=True, text=True, cwd=ROOT)
            times[cpus].append(json.loads(out.stdout.strip().splitlines()[-1]))
    table = Table(title=f"load_startup(): {2 * args.models} models, {args.rounds} rounds")
    for column in ("CPU budget", "median s", "rounds s", "vs one at a time"):
        table.add_column(column)
    base = sorted(times[1])[len(times[1]) // 2]
    for cpus, values in times.items():
        median = sorted(values)[len(values) // 2]
        rounds = " ".join(f"{v:.2f}" for v in values)
        table.add_row(str(cpus), f"{median:.2f}", rounds, f"{base / median:.2f}x")
    Console().print(table)


if __name__ == "__main__":
    main()
