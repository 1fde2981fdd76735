"""PyTorch models: torch.export programs, state_dicts/safetensors + class, TorchScript.

Loading order of preference, and why:
- `.pt2` (torch.export): self-contained, no Python class, no pickle.
- a state_dict (`.pt`/`.pth`, read with weights_only=True) or `.safetensors`, with
  `model_class: module:Class` (+ `model_kwargs`) in the manifest: weights only, no code.
- TorchScript: legacy (deprecated in torch 2.13); loaded, with one warning in the log.
- a fully pickled module only with `trusted: true`, because unpickling runs code.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import sys
import zipfile
from typing import Any

import numpy as np
from pydantic import Field

from mlserve.runtimes._base import (
    Batch,
    BatchPrediction,
    Runtime,
    RuntimeInfo,
    Task,
    classify_from_proba,
    resolve_labels,
    softmax,
)
from mlserve.runtimes._options import PreprocessSpec, TensorInputOptions, TrustOptions

log = logging.getLogger("mlserve.runtimes.torch")
PLATFORM = "pytorch"  # the V2 metadata's name for it
EXTRA = "mlserve[torch]"


class Options(TensorInputOptions, TrustOptions):
    model_class: str | None = None  # module:Class to rebuild a state_dict or safetensors into
    model_kwargs: dict[str, Any] = Field(default_factory=dict)


class TorchRuntime(Runtime):
    """An nn.Module (or exported program) in eval mode on its device."""

    _module: Any
    _info: RuntimeInfo
    _labels: list[Any] | None = None

    @property
    def options(self) -> Options:
        assert isinstance(self.spec.options, Options)
        return self.spec.options

    def unload(self) -> None:
        from mlserve.runtimes._device import release_device

        self._module = None
        release_device(self._device)

    def load(self) -> None:
        import torch

        from mlserve.runtimes._device import resolve_device

        spec, options = self.spec, self.options
        set_torch_threads(self.threads)
        self._device = resolve_device(options.device)
        module, example_shape = self._read_module()
        with contextlib.suppress(NotImplementedError):  # exported programs fix their mode
            module.eval()
        self._module = module.to(self._device)
        kind = options.input_kind()
        input_shape = tuple(options.input_shape) if options.input_shape else example_shape
        n_features = None
        if kind == "tabular":
            n_features = input_shape[0] if input_shape else _first_layer_width(module)
        outputs = self._output_width(kind, input_shape, n_features)
        task: Task = "classification" if outputs > 1 or spec.labels else "regression"
        labels = None
        if task == "classification":
            self._labels = resolve_labels(spec, None, outputs)
            labels = [str(x) for x in self._labels]
        self._info = RuntimeInfo(
            framework="torch",
            framework_version=torch.__version__,
            task=task,
            input_kind=kind,
            n_features=n_features,
            labels=labels,
            label_values=self._labels if labels is not None else None,
            input_shape=input_shape if kind == "image" else None,
            device=str(self._device),
            preprocess=(options.preprocess or PreprocessSpec()) if kind == "image" else None,
            threads=self.threads,
        )

    def describe(self) -> RuntimeInfo:
        return self._info

    def predict(self, batch: Batch) -> BatchPrediction:
        assert isinstance(batch, np.ndarray)
        outputs = self._forward(batch)
        if self._info.task == "regression":
            return BatchPrediction(outputs.reshape(len(batch), -1)[:, 0].astype(float).tolist())
        assert self._labels is not None
        return classify_from_proba(softmax(outputs.astype(np.float64)), self._labels)

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            tensor = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
            out = self._module(tensor.to(self._device))
            if isinstance(out, tuple | list):
                out = out[0]
            result: np.ndarray = out.detach().float().cpu().numpy()
            return result

    def _read_module(self) -> tuple[Any, tuple[int, ...] | None]:
        import torch

        path, spec = self.spec.path, self.options
        if path.suffix == ".pt2":
            program = torch.export.load(str(path))
            return program.module(), _example_shape(program)
        if spec.model_class:
            module = _import_class(spec.model_class, path.parent)(**spec.model_kwargs)
            if path.suffix == ".safetensors":
                from safetensors.torch import load_file

                state = load_file(str(path))
            else:
                state = torch.load(str(path), map_location="cpu", weights_only=True)
            module.load_state_dict(state)
            return module, None
        if _is_torchscript(path):
            log.warning(
                "%s is TorchScript, which torch deprecates; re-save it with torch.export (.pt2)",
                path.name,
            )
            return torch.jit.load(str(path), map_location="cpu"), None  # type: ignore[no-untyped-call]
        if spec.trusted:
            return torch.load(str(path), map_location="cpu", weights_only=False), None
        raise ValueError(
            f"{path.name} is neither a torch.export program (.pt2) nor TorchScript; for a "
            "state_dict give model_class: module:Class, and for a fully pickled module "
            "(runs code when loaded) set trusted: true"
        )

    def _output_width(
        self, kind: str, input_shape: tuple[int, ...] | None, n_features: int | None
    ) -> int:
        """Run one zero example through the model to learn its output width."""
        shape = (1, *input_shape) if input_shape else (1, n_features) if n_features else None
        if shape is None:
            if self.spec.labels:
                return len(self.spec.labels)
            raise ValueError(
                "cannot tell the model's input size; give input_shape in the "
                "manifest (e.g. [4] or [1, 8, 8])"
            )
        return int(self._forward(np.zeros(shape, dtype=np.float32)).reshape(1, -1).shape[1])


def set_torch_threads(threads: int) -> None:
    """torch's pools are per process: intra-op to the model's threads, inter-op to one (it
    can be set only before torch's first parallel work; later it stays as it was)."""
    import torch

    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)


def _example_shape(program: Any) -> tuple[int, ...] | None:
    """Per-row input shape of an exported program, from its first user input's metadata."""
    for node in program.graph.nodes:
        if node.op == "placeholder" and node.name in program.graph_signature.user_inputs:
            value = node.meta.get("val")
            if value is not None:
                return tuple(int(d) for d in value.shape[1:])
    return None


def _first_layer_width(module: Any) -> int | None:
    import torch

    for layer in module.modules() if hasattr(module, "modules") else []:
        if isinstance(layer, torch.nn.Linear):
            return int(layer.in_features)
    return None


def _is_torchscript(path: Any) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any("/code/" in name for name in archive.namelist())


def _import_class(target: str, folder: Any) -> Any:
    """`module:Class`, importable as is or from a .py file beside the manifest."""
    module_name, _, attr = target.partition(":")
    if not attr:
        raise ValueError(f"model_class {target!r} must look like module:Class")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        sys.path.insert(0, str(folder))
        try:
            module = importlib.import_module(module_name)
        finally:
            sys.path.remove(str(folder))
    return getattr(module, attr)


RUNTIME = TorchRuntime
