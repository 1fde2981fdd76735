"""`device: auto | cpu | cuda | cuda:N` -> a torch device, with a clear error when absent."""

from __future__ import annotations

import re
from typing import Any


def resolve_device(requested: str) -> Any:
    """Return a torch.device; `auto` is cuda when available, else cpu."""
    import torch

    name = requested.strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    match = re.fullmatch(r"cuda(?::(\d+))?", name)
    if match is None:
        raise ValueError(f"unknown device {requested!r}; expected auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise RuntimeError(
            f"device {requested!r} was asked for, but CUDA is not available on "
            "this machine; use device: auto or cpu"
        )
    index = int(match.group(1) or 0)
    if index >= torch.cuda.device_count():
        raise RuntimeError(
            f"device {requested!r} was asked for, but this machine has "
            f"{torch.cuda.device_count()} CUDA device(s)"
        )
    return torch.device(f"cuda:{index}")


def release_device(device: Any) -> None:
    """Return the memory torch's caching allocator keeps for `device` to the driver, once
    the tensors on it are gone (a no-op on the CPU)."""
    if getattr(device, "type", None) != "cuda":
        return
    import gc

    import torch

    gc.collect()  # tensors held only by reference cycles go first, or the cache keeps them
    with torch.cuda.device(device):
        torch.cuda.empty_cache()
