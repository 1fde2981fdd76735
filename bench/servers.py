"""Start each server under test on one pinned core, and stop it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
LITSERVE_VENV = ROOT / "bench" / ".venv-litserve"
SERVER_CORE = "0"
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
ROW = {"features": [0.1] * 20}


def ensure_litserve() -> Path:
    """LitServe lives in its own virtualenv so it cannot change the project's packages."""
    python = LITSERVE_VENV / "bin" / "python"
    has_xgboost = (
        python.exists() and subprocess.run([str(python), "-c", "import xgboost"]).returncode == 0
    )
    if not has_xgboost:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(LITSERVE_VENV)], check=True)
        import sklearn
        import xgboost

        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "-q",
                "litserve",
                f"scikit-learn=={sklearn.__version__}",
                f"xgboost-cpu=={xgboost.__version__}",
                "joblib",
                "numpy",
            ],
            check=True,
        )
    return python


RUNTIMES = {".joblib": "sklearn", ".json": "xgboost", ".txt": "lightgbm"}


def manifest(
    folder: Path, model: Path, batch_size: int, replicas: int = 1, accelerate: str = "off"
) -> Path:
    path = folder / f"{model.stem}-batch{batch_size}-r{replicas}-{accelerate}.yaml"
    path.write_text(
        "server: {limits: {max_body_bytes: 100000000}}\n"
        f"models:\n  - name: m\n    runtime: {RUNTIMES[model.suffix]}\n    path: {model}\n"
        f"    batching: {{max_batch_size: {batch_size}, max_wait_ms: 2}}\n"
        f"    replicas: {replicas}\n    accelerate: '{accelerate}'\n"
    )
    return path


def command(kind: str, model: Path, port: int, work: Path) -> list[str]:
    venv_bin = Path(sys.executable).parent
    if kind in ("bare-fastapi", "bare-asgi"):
        app = "fastapi_app" if kind == "bare-fastapi" else "asgi_app"
        return [
            sys.executable,
            "-m",
            "uvicorn",
            f"bench.bare_apps:{app}",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]
    if kind == "wire-floor":  # big V2 requests' bytes moved, nothing else (see wire_floor)
        return [sys.executable, "-m", "bench.wire_floor", "--port", str(port)]
    if kind == "naive":
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.naive_app:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]
    if kind == "litserve":
        return [
            str(ensure_litserve()),
            str(ROOT / "bench" / "litserve_app.py"),
            str(model),
            str(port),
        ]
    if kind == "mlserve-ray":  # the Ray Serve backend, 2 replicas of the model
        ray_manifest = manifest(work, model, 64, replicas=2)
        return [
            str(venv_bin / "mlserve"),
            "serve",
            str(ray_manifest),
            "--backend",
            "ray",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]
    batch_size = 1 if kind == "mlserve-nobatch" else 64
    console = ["--no-console"] if kind == "mlserve-batch-noconsole" else []
    # As users start it: INFO access lines on; `mlserve-quiet` shows what they cost.
    quiet = ["--log-level", "warning"] if kind == "mlserve-quiet" else []
    accelerate = "onnx" if kind == "mlserve-onnx" else "off"
    return [
        str(venv_bin / "mlserve"),
        "serve",
        str(manifest(work, model, batch_size, accelerate=accelerate)),
        "--port",
        str(port),
        *quiet,
        *console,
    ]


# url -> the server's process group, to add up its CPU time (see cpu_seconds)
GROUPS: dict[str, int] = {}


@contextmanager
def running(
    kind: str, model: Path, port: int, work: Path, pinned: bool = True, threads_env: bool = False
) -> Iterator[str]:
    """A server as a user starts it: no thread variables unless `threads_env` (to compare)."""
    env = {**os.environ, "MODEL_PATH": str(model)}
    for variable in ONE_THREAD:
        env.pop(variable, None)
    if threads_env:
        env.update(ONE_THREAD)
    pin = ["taskset", "-c", SERVER_CORE] if pinned else []
    log = (work / f"{kind}-{port}.log").open("wb")  # a pipe nobody reads would fill and block
    proc = subprocess.Popen(
        [*pin, *command(kind, model, port, work)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    GROUPS[url] = proc.pid
    try:
        wait_until_serving(url, proc, log.name)
        yield url
    finally:
        GROUPS.pop(url, None)
        os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=20)
        # Worker processes (LitServe's inference workers, Ray's) can outlive their parent and
        # keep the pinned core busy, skewing whatever is measured next: kill the whole group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        time.sleep(1)
        log.close()


@contextmanager
def all_running(
    kinds: list[str], model: Path, port: int, work: Path, threads_env: bool = False
) -> Iterator[dict[str, str]]:
    """Several servers of the same model at once, on ports from `port`: kind -> url."""
    with contextlib.ExitStack() as stack:
        yield {
            kind: stack.enter_context(running(kind, model, port + i, work, threads_env=threads_env))
            for i, kind in enumerate(kinds)
        }


def wait_until_serving(
    url: str, proc: subprocess.Popen[bytes], log: str, timeout: float = 90
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {Path(log).read_text()[-2000:]}")
        try:
            if httpx.post(url + "/predict", json=ROW, timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not start")


def cpu_seconds(url: str) -> float:
    """User + system CPU time so far of every process in the server's process group (LitServe
    and Ray run workers beside the HTTP process)."""
    group, total, tick = GROUPS[url], 0, os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == group:  # pgrp
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def wait_idle(url: str, deadline_s: float = 10.0) -> None:
    """Until the server has stopped working on what a finished load left it (a slow server
    still answers requests whose clients have gone), so that the next server measured has the
    core to itself; at most `deadline_s`."""
    end = time.monotonic() + deadline_s
    before = cpu_seconds(url)
    while time.monotonic() < end:
        time.sleep(0.1)
        now = cpu_seconds(url)
        if now - before < 0.005:  # under 5% of a core over the last 0.1 s
            return
        before = now
