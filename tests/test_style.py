"""Conventions of the package's source (ruff and mypy run in scripts/check and .ci/run)."""

from __future__ import annotations

import re

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.unit

PACKAGE = ROOT / "mlserve"


def test_only_the_engine_touches_the_registry() -> None:
    """Routes, V2, the CLI and the Ray backend go through the engine's public surface."""
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name == "engine":
            continue
        text = path.read_text()
        assert "ModelRegistry" not in text, path
        assert "_registry" not in text, path
        assert "core.registry" not in text, path


def test_routes_and_environment_variables_are_written_once() -> None:
    literal = re.compile(
        r"""["'](/predict|/classify|/health|/ready|/v2\b|/model/info|/metrics|/docs|MLSERVE_[A-Z_]+)"""
    )
    offenders = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in PACKAGE.rglob("*.py")
        if path.name != "wire.py"
        for match in literal.finditer(path.read_text())
    ]
    assert offenders == []
