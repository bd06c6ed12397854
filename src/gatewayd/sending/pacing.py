"""Token buckets counted in segments, and the adaptive rate a throttled link runs at.

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

    def set_rate(self, rate: float | None, burst: float | None = None) -> None:
        self.rate = rate
        if burst is not None:
            self.burst = max(1.0, float(burst))
            self.tokens = min(self.tokens, self.burst)


class AdaptiveRate:
    """AIMD on a link's rate: halve on carrier throttling, creep back after quiet periods.

    The link slows as a whole instead of re-queueing single messages, so per-recipient order and
    the receipt mapping are untouched (SPEC §2).
    """

    def __init__(self, ceiling: float | None, floor: float = 1.0, recover_after_s: float = 2.0,
                 cooldown_s: float = 1.0) -> None:
        self.ceiling = ceiling
        self.floor = floor
        self.recover_after_s = recover_after_s
        self.cooldown_s = cooldown_s
        self.current: float | None = ceiling
        self.last_throttle = -math.inf
        self.last_cut = -math.inf
        self.last_raise = -math.inf

    @property
    def throttled(self) -> bool:
        return self.current is not None and (self.ceiling is None or self.current < self.ceiling)

    def on_throttle(self, now: float, observed_rate: float) -> float:
        """Halve once per episode: the many responses of one window that all say "throttled"
        are one signal, not ten (or the rate would collapse to the floor)."""
        self.last_throttle = now
        self.last_raise = now
        if self.current is not None and now - self.last_cut < self.cooldown_s:
            return self.current
        base = self.current if self.current is not None else max(observed_rate, self.floor * 2)
        if self.ceiling is not None:
            base = min(base, self.ceiling)
        self.current = max(self.floor, base / 2)
        self.last_cut = now
        return self.current

    def tick(self, now: float) -> float | None:
        """Additive increase per quiet period; back to the ceiling (or unlimited) when reached."""
        if self.current is None or now - self.last_throttle < self.recover_after_s:
            return self.current
        if now - self.last_raise >= self.recover_after_s:
            self.last_raise = now
            self.current += max(1.0, 0.1 * (self.ceiling or self.current))
            if self.ceiling is not None and self.current >= self.ceiling:
                self.current = self.ceiling
            elif self.ceiling is None and now - self.last_throttle > 10 * self.recover_after_s:
                self.current = None
        return self.current


def backoff(attempt: int, base: float, cap: float, jitter: float) -> float:
    """Exponential backoff with full jitter in [0.5, 1] of the step (``jitter`` in [0, 1])."""
    step = min(cap, base * (2 ** max(0, attempt - 1)))
    return step * (1 - 0.5 * jitter)
