"""At most ``rate`` requests in any ``per_s`` seconds, per robot (pure; the clock is a value).

A token bucket of capacity N refilled at N per minute lets 2N requests through in a minute
that starts with a full bucket, which is exactly what gets a DingTalk robot throttled for
ten minutes. So this is a sliding-window log: the end times of the last ``rate`` requests.
Each request is logged at the moment its *response* arrived: the robot received it no
later than that, so spacing the next request's start ``per_s`` after it guarantees the
robot never counts more than ``rate`` in its own window, however slow the network was.
"""

from __future__ import annotations

from collections import deque


class SlidingWindow:
    def __init__(self, rate: int, per_s: float) -> None:
        if rate < 1 or per_s <= 0:
            raise ValueError("rate >= 1 and per_s > 0")
        self.rate = rate
        self.per_s = per_s
        self._ends: deque[float] = deque(maxlen=rate)

    def _trim(self, now: float) -> None:
        while self._ends and self._ends[0] <= now - self.per_s:
            self._ends.popleft()

    def available(self, now: float) -> int:
        """How many requests may start at ``now``."""
        self._trim(now)
        return self.rate - len(self._ends)

    def next_free(self, now: float) -> float:
        """When the next request may start (``now`` if one may start now)."""
        self._trim(now)
        if len(self._ends) < self.rate:
            return now
        return self._ends[0] + self.per_s

    def record(self, ended_at: float) -> None:
        """One request ended (successful or not: the robot may have counted it)."""
        self._ends.append(ended_at)

    def exhaust(self, now: float) -> None:
        """The robot said 'too fast': treat the window as full from now on."""
        for _ in range(self.rate - len(self._ends)):
            self._ends.append(now)


class RateLimit:
    """Several windows at once (Feishu: 100 a minute *and* 5 a second).

    ``budget`` is the room in the longest window: it decides between single messages and a
    digest. The shorter windows only pace the sending (wait a second rather than digest).
    """

    def __init__(self, limits: list[tuple[int, float]]) -> None:
        if not limits:
            raise ValueError("at least one (rate, per_s) limit")
        self.windows = sorted((SlidingWindow(r, p) for r, p in limits), key=lambda w: -w.per_s)

    def available(self, now: float) -> int:
        return min(w.available(now) for w in self.windows)

    def budget(self, now: float) -> int:
        return self.windows[0].available(now)

    def next_free(self, now: float) -> float:
        return max(w.next_free(now) for w in self.windows)

    def record(self, ended_at: float) -> None:
        for w in self.windows:
            w.record(ended_at)

    def exhaust(self, now: float) -> None:
        for w in self.windows:
            w.exhaust(now)
