"""The worker process: Faust's Worker, which marks the local table files whole only after a clean stop."""

from __future__ import annotations

from faust.worker import Worker as FaustWorker

from streams.app.local_state import close_local_state


class Worker(FaustWorker):
    def stop_and_shutdown(self) -> None:
        super().stop_and_shutdown()
        if self.crash_reason is None and self.app.crash_reason is None:
            close_local_state(self.app)
