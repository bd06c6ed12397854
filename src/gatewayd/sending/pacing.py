"""Token buckets counted in segments (the rate a link learns from its carrier: flow.py).

Sans-I/O: every method takes ``now``; the dispatcher sleeps for the returned wait. A message with
more segments than the burst is still allowed (the bucket goes into debt) so long messages are
never starved, and the debt delays whatever comes next by exactly the right amount.
"""

from __future__ import annotations

import math


class TokenBucket:
    def __init__(self, rate: float | None, burst: float, now: float = 0.0) -> None:
        self.rate = rate            # None: unlimited
        self.burst = max(1.0, float(burst))
        self.tokens = self.burst
        self.stamp = now

    def _refill(self, now: float) -> None:
        if self.rate is None:
            self.tokens = self.burst
        elif now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = max(self.stamp, now)

    def available(self, now: float) -> int:
        """Whole segments that may go now (at least 1 when the bucket is not in debt)."""
        self._refill(now)
        if self.rate is None:
            return 1 << 30
        return max(0, math.floor(self.tokens + 1e-9))

    def wait(self, n: float, now: float) -> float:
        """Seconds until ``n`` segments (capped at the burst) may go."""
        self._refill(now)
        if self.rate is None:
            return 0.0
        need = min(n, self.burst) - self.tokens
        return 0.0 if need <= 1e-9 else need / self.rate

    def take(self, n: float, now: float) -> None:
        self._refill(now)
        if self.rate is not None:
            self.tokens -= n

    def give_back(self, n: float) -> None:
        """Segments taken for a submit the carrier refused (throttled): not spent."""
        if self.rate is not None:
            self.tokens = min(self.burst, self.tokens + n)

    def set_rate(self, rate: float | None, burst: float | None = None) -> None:
        self.rate = rate
        if burst is not None:
            self.burst = max(1.0, float(burst))
            self.tokens = min(self.tokens, self.burst)


def backoff(attempt: int, base: float, cap: float, jitter: float) -> float:
    """Exponential backoff with full jitter in [0.5, 1] of the step (``jitter`` in [0, 1])."""
    step = min(cap, base * (2 ** max(0, attempt - 1)))
    return step * (1 - 0.5 * jitter)
