"""The project's own checks run with the tests: ruff (lint + format) and strict mypy."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.support import ROOT


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_ruff_lint_and_format() -> None:
    lint = run("ruff", "check", ".")
    assert lint.returncode == 0, lint.stdout
    fmt = run("ruff", "format", "--check", ".")
    assert fmt.returncode == 0, fmt.stdout


def test_mypy_strict() -> None:
    result = run("mypy", "mlserve")
    assert result.returncode == 0, result.stdout


PACKAGE = ROOT / "mlserve"


def test_only_the_inference_core_touches_the_registry() -> None:
    """Routes, V2, the CLI and the Ray backend go through the core's public surface."""
    for path in PACKAGE.rglob("*.py"):
        if path.name in ("inference.py", "registry.py"):
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
