"""The README's tour and curl examples, run against a live sample server so they cannot rot."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

README = (ROOT / "README.md").read_text()


def block_after(heading: str) -> str:
    """The first ```bash block after a heading."""
    section = README.split(heading, 1)[1]
    match = re.search(r"```bash\n(.*?)```", section, re.S)
    assert match, heading
    return match.group(1)


def run(script: str, url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    script = script.replace("http://127.0.0.1:8000", url).replace(
        "localhost:8000", url.removeprefix("http://")
    )
    env = {
        **os.environ,
        "MLSERVE_URL": url,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "sample_models").symlink_to(ROOT / "sample_models")
    return tmp_path


def test_the_tour_runs(live_server: str, workdir: Path) -> None:
    script = block_after("## Tour").replace(". .venv/bin/activate\n", "")
    result = run(script, live_server, workdir)
    assert result.returncode == 0, result.stderr
    assert "setosa" in result.stdout
    assert "positive" in result.stdout


@pytest.mark.parametrize("heading", ["### HTTP, with curl", "## Open Inference Protocol"])
def test_every_curl_example_answers_json_without_error(
    live_server: str, workdir: Path, heading: str
) -> None:
    lines = [line for line in block_after(heading).splitlines() if line.startswith("curl ")]
    assert len(lines) >= 6
    for line in lines:
        result = run(line, live_server, workdir)
        assert result.returncode == 0, (line, result.stderr)
        if line.endswith("/metrics"):
            assert "mlserve_requests_total" in result.stdout
            continue
        body = json.loads(result.stdout)
        assert "error" not in body, (line, body)


def test_ci_runs_the_readme_test_command() -> None:
    test_command = next(
        line
        for line in block_after("Install and run the tests").splitlines()
        if "scripts/test" in line
    )
    assert test_command in (ROOT / ".ci" / "run").read_text()
    assert "pytest" in (ROOT / "scripts" / "test").read_text()


def test_the_python_client_example_runs(live_server: str, workdir: Path) -> None:
    section = README.split("## Python client", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match
    code = match.group(1).replace("localhost:8000", live_server.removeprefix("http://"))
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=workdir, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "'prediction': 'setosa'" in result.stdout
    assert "'label': 'positive'" in result.stdout


def test_the_readme_points_to_nothing_outside_the_repository() -> None:
    for outside in ("DESIGN.md", "anchors.md", "(../", " ../", "shared/notes"):
        assert outside not in README, outside
    license_file = ROOT / "LICENSE"
    assert license_file.read_text().startswith("MIT License")
    assert 'license-files = ["LICENSE"]' in (ROOT / "pyproject.toml").read_text()


@pytest.mark.unit
def test_the_python_client_example_needs_only_what_the_readme_installs() -> None:
    """The test environment has every dev package, so the example ran here while it failed
    after the README's own install (pandas was only a dev package)."""
    import tomllib

    section = README.split("## Python client", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code
    imported = set(re.findall(r"^import ([\w, ]+)", code.group(1), re.M))
    modules = {m.split(" as ")[0].strip() for line in imported for m in line.split(",")}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    installed = {re.split(r"[<>=\[ ]", d)[0] for d in project["dependencies"]}
    for extra in re.findall(r"\w+", extras["all"][0].split("[", 1)[1]):
        installed |= {re.split(r"[<>=\[ ]", d)[0] for d in extras[extra]}
    for module in modules - {"mlserve"} - set(sys.stdlib_module_names):
        assert module in installed, f"the example imports {module}; .[all] does not install it"


def test_the_first_commands_venv_gets_a_pip_past_its_known_vulnerability(tmp_path: Path) -> None:
    """`python3 -m venv` installs the pip bundled with Python (23.2 here, CVE-2023-5752, fixed
    in 23.3); the README's first command upgrades it before installing anything."""
    first = README.split("```bash\n", 1)[1].split("\n", 1)[0]
    steps = first.split(" && ")
    installs = [s for s in steps if s.startswith("pip install")]
    assert installs[0] == "pip install -q -c constraints.txt --upgrade pip", installs
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    script = f". {venv}/bin/activate && {installs[0]} && python -m pip --version"
    done = subprocess.run(
        ["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    version = tuple(int(part) for part in done.stdout.split()[1].split(".")[:2])
    assert version >= (23, 3), done.stdout
