"""The public surface is exactly what `__all__` says (the httpx test)."""

from __future__ import annotations

import types

import pytest

import mlserve

pytestmark = pytest.mark.unit


def test_all_names_resolve_and_are_sorted() -> None:
    assert mlserve.__all__ == sorted(mlserve.__all__)
    for name in mlserve.__all__:
        assert getattr(mlserve, name) is not None


def test_public_names_are_exactly_all() -> None:
    public = {
        n
        for n in dir(mlserve)
        if not n.startswith("_") and not isinstance(getattr(mlserve, n), types.ModuleType)
    } - {"annotations", "Any"}
    assert public <= set(mlserve.__all__)
