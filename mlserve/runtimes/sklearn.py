"""scikit-learn: `.skops` files (recommended: loading runs no code, and only the types the
manifest trusts are built), or joblib/pickle files (loading runs code: pin them with sha256)."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from mlserve.runtimes._base import (
    Batch,
    BatchPrediction,
    Runtime,
    RuntimeInfo,
    classify_from_proba,
    resolve_labels,
)
from mlserve.runtimes._onnx_compile import Compiled, compile_model
from mlserve.runtimes._options import AccelerateOptions

EXTRA = "mlserve"
log = logging.getLogger("mlserve.runtimes.sklearn")
# The unpinned pickles this process has loaded: the first is a warning with the advice, the
# next ones are one line each at INFO, and a file is named once (not at every reload).
_UNPINNED_PICKLES: set[Path] = set()


def _note_unpinned_pickle(key: str, path: Path) -> None:
    resolved = path.resolve()
    if resolved in _UNPINNED_PICKLES:
        return
    first = not _UNPINNED_PICKLES
    _UNPINNED_PICKLES.add(resolved)
    if first:
        log.warning(
            "model %s: %s is a pickle, and loading a pickle runs code; pin it with sha256 "
            "in the manifest, or save it as .skops (said once: later pickles are logged at "
            "INFO)",
            key,
            path.name,
        )
    else:
        log.info("model %s: %s is an unpinned pickle too", key, path.name)


class Options(AccelerateOptions):
    # `.skops` files: the types beyond skops' defaults that this model may build, e.g.
    # sklearn.ensemble._forest.RandomForestClassifier. Never read from the file itself.
    trusted_types: list[str] = Field(default_factory=list)


class SklearnRuntime(Runtime):
    """A fitted estimator or pipeline; classifiers answer with one `predict_proba` pass."""

    _model: Any
    _info: RuntimeInfo
    _labels: list[Any]

    def load(self) -> None:
        import sklearn
        from sklearn.base import is_classifier
        from sklearn.exceptions import InconsistentVersionWarning

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", InconsistentVersionWarning)
            model = self._read(self.spec.path)
        if not callable(getattr(model, "predict", None)):
            raise TypeError(f"{type(model).__name__} has no predict(); not a scikit-learn model")
        notes = [
            str(w.message) for w in caught if issubclass(w.category, InconsistentVersionWarning)
        ]
        self._model = model
        self._has_proba = is_classifier(model) and hasattr(model, "predict_proba")
        self._lean = sequential_forest(model) or lean_logistic(model)
        classes = getattr(model, "classes_", None)
        native = (
            [c.item() if hasattr(c, "item") else c for c in classes]
            if classes is not None
            else None
        )
        labels = None
        if is_classifier(model):
            self._labels = resolve_labels(self.spec, native, len(native or self.spec.labels or []))
            labels = [str(x) for x in self._labels]
        n_features = getattr(model, "n_features_in_", None)
        self._compiled: Compiled | None = None
        if n_features is not None and (self._has_proba or not is_classifier(model)):
            scores = model.predict_proba if self._has_proba else model.predict
            self._compiled, why = compile_model(
                self.spec,
                self.options,
                "scikit-learn",
                model,
                int(n_features),
                scores,
                classifier=self._has_proba,
                threads=self.threads,
            )
            notes += [why] if why else []
        self._info = RuntimeInfo(
            framework="scikit-learn",
            framework_version=sklearn.__version__,
            task="classification" if is_classifier(model) else "regression",
            input_kind="tabular",
            n_features=int(n_features) if n_features is not None else None,
            labels=labels,
            label_values=self._labels if labels is not None else None,
            notes=notes,
            engine=self._compiled.engine if self._compiled else None,
            threads=self.threads,
        )

    def unload(self) -> None:
        self._model = self._lean = self._compiled = None

    @property
    def options(self) -> Options:
        assert isinstance(self.spec.options, Options)
        return self.spec.options

    def _read(self, path: Path) -> Any:
        if path.suffix == ".skops":
            return load_skops(path, self.options.trusted_types)
        import joblib

        if self.spec.sha256 is None:
            _note_unpinned_pickle(self.spec.key, path)
        return joblib.load(path)

    def describe(self) -> RuntimeInfo:
        return self._info

    def predict(self, batch: Batch) -> BatchPrediction:
        assert isinstance(batch, np.ndarray)
        if self._compiled is not None:
            scores = self._compiled.scores(batch)
            if self._has_proba:
                return classify_from_proba(scores, self._labels)
            return BatchPrediction(scores[:, 0].tolist())
        if self._has_proba:
            scores = (self._lean or self._model.predict_proba)(batch)
            return classify_from_proba(scores, self._labels)
        raw = np.asarray((self._lean or self._model.predict)(batch))
        if self._info.task == "classification":
            index = {c: i for i, c in enumerate(self._model.classes_.tolist())}
            return BatchPrediction(
                [self._labels[index[c]] for c in raw.tolist()], None, self._info.labels
            )
        values = np.asarray(raw, dtype=np.float64)
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        return BatchPrediction(values.tolist())


def sequential_forest(model: Any) -> Callable[[np.ndarray], np.ndarray] | None:
    """A fitted random forest's or extra-trees' `predict_proba` (classifiers) or `predict`
    (regressors), summed tree by tree in the calling thread. With `n_jobs` None or 1,
    scikit-learn runs this same loop through joblib, whose dispatch per tree costs more than
    the tree itself on a small batch. The trees, their inputs and the
    order of the additions are scikit-learn's own, so the answers are bit for bit the same
    (the conformance tests compare them). None for anything else, a multi-output forest, or
    a forest that runs its trees in parallel."""
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        ExtraTreesRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )

    classifiers = (RandomForestClassifier, ExtraTreesClassifier)
    forests = (*classifiers, RandomForestRegressor, ExtraTreesRegressor)
    if (
        type(model) not in forests  # not a subclass: it may predict its own way
        or getattr(model, "n_jobs", None) not in (None, 1)
        or getattr(model, "n_outputs_", 1) != 1
        or not callable(getattr(model, "_validate_X_predict", None))
    ):
        return None
    trees = list(model.estimators_)
    classifier = type(model) in classifiers

    def scores(batch: np.ndarray) -> np.ndarray:
        rows = model._validate_X_predict(batch)  # float32, as the trees take it
        width = (len(rows), model.n_classes_) if classifier else (len(rows),)
        total = np.zeros(width, dtype=np.float64)
        for tree in trees:
            total += (tree.predict_proba if classifier else tree.predict)(rows, check_input=False)
        total /= len(trees)
        return total

    return scores


def lean_logistic(model: Any) -> Callable[[np.ndarray], np.ndarray] | None:
    """A fitted LogisticRegression's `predict_proba`, computed class by class. scikit-learn's
    own call spends most of its time outside the arithmetic: checks of a batch the inference core
    has already checked (width, finite values), and a softmax reduced along each row of a few
    classes, which numpy does an element at a time. Here the scores are computed as one row per
    class (coef · Xᵀ) so that every step runs along contiguous memory. The formula is scikit-learn's
    (the softmax of X·coefᵀ + intercept; the logistic function for two classes); the answers differ
    only in the last bits of the matrix product. The one-vs-rest mode of older scikit-learn releases
    is another formula: a probe batch compared at load finds it, and keeps scikit-learn's path.
    None for anything else, and for a batch of another width (scikit-learn's error says why)."""
    from scipy.special import expit
    from sklearn.linear_model import LogisticRegression

    if type(model) is not LogisticRegression or getattr(model, "coef_", None) is None:
        return None
    coef = np.ascontiguousarray(model.coef_, dtype=np.float64)  # (classes or 1, features)
    intercept = np.asarray(model.intercept_, dtype=np.float64).reshape(-1, 1)

    def scores(batch: np.ndarray) -> np.ndarray:
        if batch.ndim != 2 or batch.shape[1] != coef.shape[1]:
            return np.asarray(model.predict_proba(batch))
        logits = coef @ batch.T  # (classes, rows), each class's scores contiguous
        logits += intercept
        if len(logits) == 1:  # two classes: the logistic function of the one score
            positive = expit(logits[0])
            return np.stack([1 - positive, positive], axis=1)
        logits -= logits.max(axis=0)
        np.exp(logits, out=logits)
        logits /= logits.sum(axis=0)
        return np.ascontiguousarray(logits.T)

    probe = np.random.default_rng(0).normal(scale=3.0, size=(64, coef.shape[1]))
    expected = model.predict_proba(probe)
    if not np.allclose(scores(probe), expected, rtol=1e-9, atol=1e-12):
        return None
    return scores


def load_skops(path: Path, trusted: list[str]) -> Any:
    """A .skops file, built from the types skops trusts by default plus `trusted` (from the
    manifest); any other type in the file is refused before anything is built."""
    try:
        from skops import io as skops_io
    except ImportError:
        raise RuntimeError(
            "reading .skops files needs skops: pip install 'mlserve[skops]'"
        ) from None

    needed = skops_io.get_untrusted_types(file=path)
    refused = sorted(set(needed) - set(trusted))
    if refused:
        raise ValueError(
            f"{path.name} needs types the manifest does not trust: {', '.join(refused)}; "
            "if you trust them, list them under trusted_types"
        )
    return skops_io.load(path, trusted=list(trusted) or None)


RUNTIME = SklearnRuntime
