"""The CPU budget: affinity and cgroup quotas (v2 and v1) read from files, the manifest's
override, and a server confined to one core sizing its pools (and its models) to one thread."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from mlserve.engine import cpus
from tests.support import serving_process, wait_until_settled, write_manifest


@pytest.mark.unit
@pytest.mark.parametrize(
    ("files", "quota"),
    [
        ({"cpu.max": "max 100000"}, None),
        ({"cpu.max": "150000 100000"}, 1.5),
        ({"cpu.max": "50000 100000"}, 0.5),
        ({"cpu/cpu.cfs_quota_us": "200000", "cpu/cpu.cfs_period_us": "100000"}, 2.0),
        ({"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, None),
        ({}, None),
    ],
)
def test_cgroup_quotas(tmp_path: Path, files: dict[str, str], quota: float | None) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text + "\n")
    assert cpus.cgroup_quota(tmp_path) == quota


@pytest.mark.unit
def test_the_budget_is_the_smallest_limit(tmp_path: Path) -> None:
    affinity = len(os.sched_getaffinity(0))
    assert cpus.detect(cgroup=tmp_path).cpus == affinity
    (tmp_path / "cpu.max").write_text("50000 100000\n")  # half a CPU: rounded up to one
    half = cpus.detect(cgroup=tmp_path)
    assert half.cpus == 1
    assert half.source == "cgroup quota 0.5 CPUs"
    assert cpus.detect(3).cpus == 3
    assert cpus.detect(3).threads_for("auto") == 3
    assert cpus.detect(3).threads_for(2) == 2


@pytest.mark.e2e
@pytest.mark.slow
def test_a_server_on_one_core_sizes_its_pools_to_it(samples: Path, tmp_path: Path) -> None:
    manifest = write_manifest(
        tmp_path,
        f"""
models:
  - {{name: iris, runtime: sklearn, path: {samples / "iris-v1.joblib"}}}
  - {{name: digits, runtime: torch, path: {samples / "digits.pt2"}, input: image}}
  - {{name: xgb, runtime: xgboost, path: {samples / "credit-xgb.json"}, threads: 2}}
""",
    )
    unset: dict[str, str | None] = dict.fromkeys(cpus.THREAD_VARIABLES)
    with serving_process(str(manifest), env=unset, prefix=("taskset", "-c", "0")) as served:
        wait_until_settled(served.url)
        info = httpx.get(served.url + "/model/info").json()
        log = served.output()
    budget = info["cpu_budget"]
    if len(os.sched_getaffinity(0)) > 1:
        assert budget["source"].startswith("affinity 1 of")
    assert budget["cpus"] == 1
    assert budget["native_threads"] == 1  # numpy's BLAS and torch's OpenMP alike
    threads = {m["model"]: m["threads"] for m in info["models"]}
    assert threads == {"iris": 1, "digits": 1, "xgb": 2}
    assert "CPU budget: 1" in log
