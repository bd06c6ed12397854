"""How real carriers throttle an ESME, as sans-I/O models for the fake SMSC (time is a parameter).

Carriers count submits in different ways, and a gateway's flow control has to converge on all of
them, so the fake SMSC can be any of:

- ``bucket``: a token bucket of ``tps`` per second holding up to ``burst`` (default: one second's
  worth); what most SMSC products implement;
- ``fixed``: at most ``tps`` accepted per wall-clock second (the counter resets on the second);
- ``sliding``: at most ``tps`` accepted in any one-second span.

Only accepted submits count against the limit (a throttled one used nothing). :class:`Storms`
are periods where the carrier throttles everything, whatever the rate (an overloaded SMSC).
"""

from __future__ import annotations

import math
from collections import deque

MODELS = ("bucket", "fixed", "sliding")


class RateLimit:
    """``admit(now)``: True if a submit arriving now is accepted (and counted)."""

    def __init__(self, tps: float, model: str = "bucket", burst: float | None = None) -> None:
        if model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, not {model!r}")
        self.tps = float(tps)
        self.model = model
        self.burst = max(1.0, float(burst if burst is not None else tps))
        self._tokens: float | None = None      # bucket: full at the first submit
        self._stamp = 0.0
        self._second = -math.inf               # fixed: the current wall-clock second
        self._count = 0
        self._recent: deque[float] = deque()   # sliding: accepted in the last second

    def admit(self, now: float) -> bool:
        if self.model == "bucket":
            if self._tokens is None:
                self._tokens = self.burst
            else:
                self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.tps)
            self._stamp = now
            if self._tokens < 1.0:
                return False
            self._tokens -= 1.0
            return True
        if self.model == "fixed":
            second = math.floor(now)
            if second != self._second:
                self._second, self._count = second, 0
            if self._count >= self.tps:
                return False
            self._count += 1
            return True
        recent = self._recent
        while recent and recent[0] <= now - 1.0:
            recent.popleft()
        if len(recent) >= self.tps:
            return False
        recent.append(now)
        return True


class Storms:
    """Every ``every`` seconds (from ``start``), ``length`` seconds in which everything is
    throttled."""

    def __init__(self, every: float, length: float, start: float = 0.0) -> None:
        if not 0 < length < every:
            raise ValueError("a storm must be shorter than the period it repeats in")
        self.every, self.length, self.start = every, length, start

    def raging(self, now: float) -> bool:
        return now >= self.start and (now - self.start) % self.every < self.length
