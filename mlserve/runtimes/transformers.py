"""Hugging Face sequence classifiers from a local folder; never a hub download."""

from __future__ import annotations

import os
from typing import Annotated, Any

import numpy as np
from pydantic import Field

from mlserve.runtimes._base import (
    Batch,
    BatchPrediction,
    Runtime,
    RuntimeInfo,
    classify_from_proba,
    resolve_labels,
    softmax,
)
from mlserve.runtimes._options import DeviceOptions, InputKind

PLATFORM = "huggingface"  # the V2 metadata's name for it
EXTRA = "mlserve[transformers]"


class Options(DeviceOptions):
    max_length: Annotated[int, Field(ge=1)] = 512  # tokens kept per text

    def input_kind(self) -> InputKind:
        return "text"


class TransformersRuntime(Runtime):
    """AutoTokenizer + AutoModelForSequenceClassification; batched, padded, truncated."""

    _model: Any
    _tokenizer: Any

    @property
    def options(self) -> Options:
        assert isinstance(self.spec.options, Options)
        return self.spec.options

    def unload(self) -> None:
        from mlserve.runtimes._device import release_device

        self._model = self._tokenizer = None
        release_device(self._device)

    def load(self) -> None:
        # Set before transformers is imported: a missing folder must fail, not download.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        import transformers
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging as hf_logging

        from mlserve.runtimes._device import resolve_device
        from mlserve.runtimes.torch import set_torch_threads

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        folder = self.spec.path
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} is not a Hugging Face model folder")
        set_torch_threads(self.threads)
        self._device = resolve_device(self.options.device)
        self._tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model = AutoModelForSequenceClassification.from_pretrained(
            folder, local_files_only=True, dtype=torch.float32
        )
        self._model = model.eval().to(self._device)
        config = model.config
        native = [config.id2label[i] for i in range(config.num_labels)]
        self._labels = resolve_labels(self.spec, native, config.num_labels)
        self._info = RuntimeInfo(
            framework="transformers",
            framework_version=f"{transformers.__version__} (torch {torch.__version__})",
            task="classification",
            input_kind="text",
            labels=[str(x) for x in self._labels],
            label_values=self._labels,
            device=str(self._device),
            max_length=self.options.max_length,
            threads=self.threads,
        )

    def describe(self) -> RuntimeInfo:
        return self._info

    def predict(self, batch: Batch) -> BatchPrediction:
        import torch

        assert isinstance(batch, list)
        encoded = self._tokenizer(
            batch,
            padding=True,
            truncation=True,
            max_length=self.options.max_length,
            return_tensors="pt",
        )
        with torch.inference_mode():
            logits = self._model(**encoded.to(self._device)).logits
        probs = softmax(logits.float().cpu().numpy().astype(np.float64))
        return classify_from_proba(probs, self._labels)


RUNTIME = TransformersRuntime
