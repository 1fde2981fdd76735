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


def test_dir_lists_every_public_name_the_lazy_ones_too() -> None:
    assert set(mlserve.__all__) <= set(dir(mlserve))
    assert "Client" in dir(mlserve)


def test_the_client_package_names_the_same_client_as_mlserve() -> None:
    import mlserve.client

    assert mlserve.client.Client is mlserve.Client
    assert set(mlserve.client.__all__) <= set(dir(mlserve.client))
