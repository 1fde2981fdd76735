"""The CPUs this process may really use, and the thread pools sized from them.

A process confined to one core (taskset, or a container's CPU limit) still sees every core of
the host in `os.cpu_count()`, and numpy's BLAS, OpenMP, torch and ONNX Runtime size their
pools from that: on one core the threads fight over it. The budget is the
smallest of the affinity mask and the cgroup quota (v2 `cpu.max`, v1 `cfs_quota_us` /
`cfs_period_us`), rounded up; `server.cpus: N` overrides it.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from mlserve import wire

CGROUP = Path("/sys/fs/cgroup")
# Read by OpenBLAS, MKL and OpenMP when they load: set before numpy is imported.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class CpuBudget:
    cpus: int
    source: str  # where the number came from, for the start-up log and `mlserve info`

    def threads_for(self, requested: int | str) -> int:
        """A model's threads: its manifest's `threads: N`, else the whole budget."""
        return self.cpus if requested == "auto" else int(requested)


def detect(override: int | str = "auto", cgroup: Path = CGROUP) -> CpuBudget:
    """The CPU budget of this process."""
    if override != "auto":
        return CpuBudget(int(override), "server.cpus")
    host = os.cpu_count() or 1
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else host
    quota = cgroup_quota(cgroup)
    if quota is not None and math.ceil(quota) < affinity:
        return CpuBudget(max(1, math.ceil(quota)), f"cgroup quota {quota:g} CPUs")
    if affinity < host:
        return CpuBudget(affinity, f"affinity {affinity} of {host} CPUs")
    return CpuBudget(host, f"all {host} CPUs")


def cgroup_quota(root: Path = CGROUP) -> float | None:
    """CPUs allowed by the cgroup's quota (v2, then v1), or None when unlimited or unknown."""
    v2 = _read(root / "cpu.max")
    if v2 is not None:
        quota, _, period = v2.partition(" ")
        if quota != "max" and period:
            return int(quota) / int(period)
        return None
    quota_us, period_us = (
        _read(root / "cpu" / "cpu.cfs_quota_us"),
        _read(root / "cpu" / "cpu.cfs_period_us"),
    )
    if quota_us and period_us and int(quota_us) > 0:
        return int(quota_us) / int(period_us)
    return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def user_set_threads() -> bool:
    """Whether the user set a thread variable: then theirs is the setting that counts."""
    return any(variable in os.environ for variable in THREAD_VARIABLES)


def limit_native_pools(cpus: int) -> None:
    """Size BLAS and OpenMP pools to `cpus`: through their variables for libraries not loaded
    yet (worker processes inherit them), through threadpoolctl for those already loaded. A
    user's own thread variable wins over both."""
    if user_set_threads() and os.environ.get(_OURS) != "1":
        return
    os.environ[_OURS] = "1"
    for variable in THREAD_VARIABLES:
        os.environ[variable] = str(cpus)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=cpus)


def native_pool_threads() -> int | None:
    """The largest thread pool of the BLAS/OpenMP libraries loaded now (None: none loaded)."""
    from threadpoolctl import threadpool_info

    sizes = [int(pool["num_threads"]) for pool in threadpool_info()]
    return max(sizes) if sizes else None


_OURS = wire.ENV_SIZED_THREADS
