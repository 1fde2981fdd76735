"""The torch samples: `digits` (a CNN saved as a torch.export program) with example PNGs, and
`iris-torch` (an MLP saved as safetensors weights + the class in nets.py)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
from sklearn.datasets import load_digits, load_iris
from sklearn.model_selection import train_test_split

from sample_models.nets import DigitsCNN, IrisMLP

SEED = 0
EXAMPLES = (0, 3, 7)  # digits written as PNG files for the README tour


def train(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int) -> None:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3 if x.dim() == 4 else 1e-2)
    loss_fn = torch.nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(SEED)
    model.train()
    for _ in range(epochs):
        for batch in torch.randperm(len(x), generator=generator).split(64):  # type: ignore[no-untyped-call]
            optimizer.zero_grad()
            loss_fn(model(x[batch]), y[batch]).backward()
            optimizer.step()
    model.eval()


def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.inference_mode():
        return float((model(x).argmax(dim=1) == y).float().mean())


def tensor(images: np.ndarray) -> torch.Tensor:
    """A batch of images as (N, 1, H, W)."""
    return torch.from_numpy(np.ascontiguousarray(images))[:, None]


def digits(out: Path) -> dict[str, float]:
    """CNN on scikit-learn's 8x8 digits (values 0..16, ink is bright), exported with a
    dynamic batch dimension; writes three held-out digits as 32x32 PNGs."""
    torch.manual_seed(SEED)
    data = load_digits()
    images = data.images.astype(np.float32) / 16.0
    x_train, x_test, y_train, y_test = train_test_split(
        images, data.target, test_size=0.2, random_state=SEED, stratify=data.target
    )
    model = DigitsCNN()
    train(model, tensor(x_train), torch.from_numpy(y_train), epochs=30)
    score = accuracy(model, tensor(x_test), torch.from_numpy(y_test))
    batch = torch.export.Dim("batch", min=1, max=4096)
    program = torch.export.export(model, (tensor(x_test[:2]),), dynamic_shapes={"x": {0: batch}})
    torch.export.save(program, str(out / "digits.pt2"))
    folder = out / "digits"
    folder.mkdir(exist_ok=True)
    for digit in EXAMPLES:
        index = next(i for i, label in enumerate(y_test) if label == digit)
        pixels = np.round(x_test[index] * 255).astype(np.uint8)
        Image.fromarray(pixels, mode="L").resize((32, 32), Image.Resampling.NEAREST).save(
            folder / f"{digit}.png"
        )
    return {"digits accuracy": score}


def digits_onnx(out: Path) -> dict[str, float]:
    """The digits CNN of digits.pt2 exported to ONNX (same weights), with a dynamic batch."""
    program = torch.export.load(str(out / "digits.pt2"))
    model = DigitsCNN()
    model.load_state_dict(program.state_dict)
    model.eval()
    example = torch.zeros(2, 1, 8, 8)
    with warnings.catch_warnings():  # the TorchScript-based exporter needs no onnxscript
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            str(out / "digits.onnx"),
            dynamo=False,
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
        )
    probe = torch.rand(16, 1, 8, 8)
    with torch.inference_mode():
        same = bool((model(probe).argmax(1) == program.module()(probe).argmax(1)).all())
    return {"digits onnx agrees with pt2": float(same)}


def iris_torch(out: Path) -> dict[str, float]:
    torch.manual_seed(SEED)
    data = load_iris()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data.astype(np.float32),
        data.target,
        test_size=0.3,
        random_state=SEED,
        stratify=data.target,
    )
    model = IrisMLP(hidden=16)
    train(model, torch.from_numpy(x_train), torch.from_numpy(y_train), epochs=200)
    save_file(model.state_dict(), str(out / "iris-mlp.safetensors"))
    return {
        "iris-torch accuracy": accuracy(model, torch.from_numpy(x_test), torch.from_numpy(y_test))
    }
