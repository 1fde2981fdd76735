"""`mlserve --help` and remote commands import no ML framework and no server stack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ["sklearn", "torch", "transformers", "joblib", "PIL", "fastapi", "uvicorn", "scipy", "grpc"]

PROBE = """
import json, sys
sys.argv = {argv!r}
from mlserve.cli import app
try:
    app()
    code = 0
except SystemExit as exc:
    code = exc.code or 0
heavy = {heavy!r}
loaded = sorted({{m.split('.')[0] for m in sys.modules}} & set(heavy))
print(json.dumps({{"exit": code, "heavy": loaded}}), file=sys.stderr)
"""


def heavy_modules(*argv: str, url: str | None = None) -> list[str]:
    """The heavy top-level packages a CLI command leaves in sys.modules."""
    args = ["mlserve", *argv] + (["--url", url] if url else [])
    code = PROBE.format(argv=args, heavy=HEAVY)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    outcome = json.loads(proc.stderr.strip().splitlines()[-1])
    assert outcome["exit"] == 0, proc.stderr  # a command that failed proves nothing
    loaded: list[str] = outcome["heavy"]
    return loaded


def test_help_is_light() -> None:
    assert heavy_modules("--help") == []


def test_remote_commands_are_light(live_server: str) -> None:
    assert heavy_modules("predict", "--features", "5.1,3.5,1.4,0.2", url=live_server) == []
    assert heavy_modules("info", url=live_server) == []
    assert heavy_modules("classify", "hello", url=live_server) == []


def test_import_mlserve_is_light() -> None:
    code = (
        "import sys, mlserve; print(sorted({m.split('.')[0] for m in sys.modules} & "
        f"set({HEAVY!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "[]"


def test_local_imports_only_the_framework_of_its_model(sample_manifest: Path) -> None:
    local = ["--local", "--manifest", str(sample_manifest)]
    sklearn_only = heavy_modules(
        "predict", "--model", "iris", "--features", "5.1,3.5,1.4,0.2", *local
    )
    assert "sklearn" in sklearn_only
    assert not {"torch", "transformers", "PIL", "fastapi", "uvicorn"} & set(sklearn_only)
    torch_model = heavy_modules(
        "predict", "--model", "iris-torch", "--features", "5.1,3.5,1.4,0.2", *local
    )
    assert "torch" in torch_model
    assert not {"transformers", "fastapi", "uvicorn"} & set(torch_model)


def test_reading_a_manifest_imports_no_framework(sample_manifest: Path) -> None:
    code = (
        "import sys; from mlserve.config.load import load_manifest; "
        f"load_manifest({str(sample_manifest)!r}); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        f"set({HEAVY!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr
