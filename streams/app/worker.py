"""The worker process: Faust's Worker, which marks the local table files whole only after a clean stop."""

from __future__ import annotations

import gc

from faust.worker import Worker as FaustWorker

from streams.app.local_state import close_local_state


class Worker(FaustWorker):
    def stop_and_shutdown(self) -> None:
        super().stop_and_shutdown()
        if self.crash_reason is None and self.app.crash_reason is None:
            close_local_state(self.app)


#: Allocations between young collections (CPython's default is 700). A worker allocates a few thousand objects
#: per filing (parsed models, JSON, Kafka records) and frees nearly all of them by reference counting; at the
#: default every filing paid several collections that walked the young objects for cycles, and the full ones
#: walked the in-memory tables: 7 % of the worker's CPU in bench/pipeline.py.
GC_THRESHOLDS = (50_000, 20, 40)


def tune_gc() -> None:
    """Before the worker starts: what was allocated at start-up (modules, the app) is never collected again, and
    collections run less often (GC_THRESHOLDS)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
