"""Process tuning: what `mlserve serve` changes in its own interpreter to serve faster.

All of it is here, and only a server applies it (`ProcessTuning` handed to the engine by
mlserve.transport.run): a program that embeds the engine (`LocalClient`, `create_app` in a
user's own app) keeps its interpreter exactly as it was, since these settings are global to
the process and would change the program's other work.

- The switch interval: while threads decode and run models, the event loop waits up to one
  interval for the interpreter lock each time it wants it; a shorter one keeps probes fast.
- The garbage collector's youngest generation is collected less often: a request allocates a
  few hundred containers that reference counting frees anyway.
- A loaded model is frozen out of the collector's passes (`gc.freeze`): full passes would
  otherwise walk its hundreds of thousands of long-lived objects on every big response.
  Unloading one thaws the heap, collects the model's cycles, and freezes again.
- BLAS/OpenMP pools are sized to the CPU budget (variables for libraries not loaded yet,
  threadpoolctl for those loaded), unless the user set a thread variable.
Figures for each are in bench/README.md.
"""

from __future__ import annotations

import gc
import sys
from dataclasses import dataclass

from mlserve.engine import cpus

SWITCH_INTERVAL_S = 0.001
GC_YOUNG_THRESHOLD = 20_000


@dataclass
class ProcessTuning:
    """A server's settings of its own process, for a CPU budget of `cpus`."""

    cpus: int

    def at_start(self) -> None:
        """Before serving: the interpreter's and the native pools' settings."""
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        young, older, oldest = gc.get_threshold()
        gc.set_threshold(max(young, GC_YOUNG_THRESHOLD), older, oldest)
        cpus.limit_native_pools(self.cpus)

    def after_load(self, *, serving: bool) -> None:
        """A model loaded: size any pool it brought, and freeze it out of the collector's
        passes; the collection first only while nothing is served yet (a full pass holds
        the event loop)."""
        cpus.limit_native_pools(self.cpus)
        if not serving:
            gc.collect()
        gc.freeze()

    def after_release(self) -> None:
        """A released model outlived its release: only a cycle holds it, and a cycle in a
        frozen heap is never collected."""
        gc.unfreeze()
        gc.collect()
        gc.freeze()
