"""Run a ``Fleet`` on its own thread; faults are handed to that thread (paho is not thread-safe)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

from simulators.gateways import Fleet

T = TypeVar("T")


class FleetRunner:
    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self._calls: queue.SimpleQueue[tuple[Callable[[Fleet], object], Future[object]]] = (
            queue.SimpleQueue()
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fleet", daemon=True)

    def start(self) -> FleetRunner:
        self._thread.start()
        return self

    def call(self, fn: Callable[[Fleet], T], timeout: float = 60.0) -> T:
        """Run ``fn(fleet)`` on the loop thread and return its result."""
        fut: Future[object] = Future()
        self._calls.put((fn, fut))
        return fut.result(timeout)  # type: ignore[return-value]

    def _run(self) -> None:
        while not self._stop.is_set():
            while True:
                try:
                    fn, fut = self._calls.get_nowait()
                except queue.Empty:
                    break
                try:
                    fut.set_result(fn(self.fleet))
                except Exception as exc:  # handed back to the caller
                    fut.set_exception(exc)
            self.fleet.run_once(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.fleet.close()
