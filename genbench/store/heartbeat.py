"""A live run's heartbeat: a thread that refreshes ``runs.heartbeat`` while the process works.

It beats every ``HEARTBEAT_SECONDS`` whatever the training loop is doing (a slow step, a long
evaluation), so a run silent for ``STALE_AFTER`` is dead. If another process has claimed the
run meanwhile (this one was frozen past the limit), ``lost`` turns true and the run stops.
"""

from __future__ import annotations

import threading

from genbench.store.db import HEARTBEAT_SECONDS, Store


class Heartbeat:
    def __init__(self, store: Store, run_id: str, owner: str, interval: float | None = None) -> None:
        self.store, self.run_id, self.owner = store, run_id, owner
        self.interval = HEARTBEAT_SECONDS if interval is None else interval
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"genbench-heartbeat-{run_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if not self.store.beat(self.run_id, self.owner):
                    self.lost = True
                    return
            except Exception:  # a busy or briefly unreachable database: try again next beat
                continue

    def why_stop(self) -> str | None:
        """Asked by the training loop before each step: a reason to stop, or None."""
        if self.lost:
            return f"run {self.run_id} was taken over by another process (this one was silent too long); stopping"
        return None
