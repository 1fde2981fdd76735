"""The package's layers keep to their places (tests/layers.py draws the whole graph)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.layers import PACKAGE, WEB_FRAMEWORKS, layer_graph, module_imports

pytestmark = pytest.mark.unit

# Layers a web framework never reaches: the engine serves gRPC, Ray and `--local` as well.
PROTOCOL_NEUTRAL = ("config", "engine", "inputs", "runtimes", "protocols")
FRONTS = ("server", "grpc", "transport", "cli", "client", "scale")


@pytest.mark.parametrize("layer", PROTOCOL_NEUTRAL)
def test_a_protocol_neutral_layer_imports_no_web_framework_and_no_front(layer: str) -> None:
    imported = layer_graph()[layer]
    assert imported.isdisjoint(WEB_FRAMEWORKS), imported
    assert imported.isdisjoint(FRONTS), imported


def test_the_http_app_does_not_reach_into_the_transport_or_the_commands() -> None:
    assert layer_graph()["server"].isdisjoint({"transport", "cli", "client", "scale", "grpc"})


def test_the_grpc_front_shares_the_engine_not_the_http_app() -> None:
    """gRPC and HTTP are two front doors on one engine: neither imports the other (the app
    hands gRPC what records its requests)."""
    assert layer_graph()["grpc"].isdisjoint({"server", "transport", "cli", "client", "scale"})


def test_only_the_transports_entry_point_knows_the_app() -> None:
    """The connection-level code (protocol, whole body, one write) is told what it needs by
    the app through the request's scope; only `run`, which puts app and server together,
    imports the app."""
    knowing = sorted(
        module
        for module, imported in module_imports().items()
        if module.startswith("mlserve.transport.")
        and any(name.startswith("mlserve.server") for name in imported)
    )
    assert knowing == ["mlserve.transport.run"]


def test_importing_the_engine_and_the_v2_codec_loads_no_web_framework() -> None:
    """Checked by importing them in a fresh interpreter: what their own imports pull in
    counts too."""
    modules = [
        f"mlserve.{layer}.{path.stem}"
        for layer in ("engine", "protocols/v2")
        for path in sorted((PACKAGE / layer).glob("*.py"))
        if path.stem != "__init__"
    ]
    code = (
        "import importlib, sys\n"
        f"for name in {[m.replace('/', '.') for m in modules]!r}: importlib.import_module(name)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {WEB_FRAMEWORKS!r}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "mlserve.engine.core" in [m.replace("/", ".") for m in modules]
    assert done.stdout.strip() == "[]"
