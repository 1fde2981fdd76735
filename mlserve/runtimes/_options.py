"""The options a manifest entry may give beside the common ones (name, path, batching, ...).

Each runtime module declares its own `Options` model from these pieces; the manifest checks an
entry's extra keys against its runtime's model, so a new framework adds its options without
touching the manifest. This module imports pydantic only: validating a manifest never imports
a framework.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

InputKind = Literal["tabular", "image", "text"]


class RuntimeOptions(BaseModel):
    """A runtime without options of its own; every runtime's Options derives from this."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def input_kind(self) -> InputKind:
        """What the model takes, known before it loads (requests are routed by kind even to a
        lazy model)."""
        return "tabular"


class PreprocessSpec(BaseModel):
    """How an image becomes the model's input tensor."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    size: tuple[int, int] | None = None
    mode: Literal["L", "RGB"] = "RGB"
    scale: float = 1 / 255
    mean: list[float] | None = None
    std: list[float] | None = None
    invert: bool = False
    channels_first: bool = True


class DeviceOptions(RuntimeOptions):
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps


class TensorInputOptions(DeviceOptions):
    """Networks that take a tensor: a feature vector or an image."""

    input: Literal["tabular", "image"] | None = None
    preprocess: PreprocessSpec | None = None
    input_shape: list[int] | None = None

    def input_kind(self) -> InputKind:
        return self.input or "tabular"


class TrustOptions(RuntimeOptions):
    trusted: bool = False  # allow a format that runs code when loaded (a full pickle)


class AccelerateOptions(RuntimeOptions):
    """Compile the model to ONNX Runtime at load (mlserve.runtimes._onnx_compile): `onnx` says
    why in the log when it cannot, `auto` only where a converter exists."""

    accelerate: Literal["off", "onnx", "auto"] = "off"
    probe: Path | None = None  # a CSV of rows (no header) to compare the conversion on
    tolerance: float = Field(default=1e-5, gt=0)  # largest allowed probability difference

    @field_validator("accelerate", mode="before")
    @classmethod
    def _yaml_off(cls, value: object) -> object:
        return "off" if value is False else value  # YAML reads a bare `off` as false
