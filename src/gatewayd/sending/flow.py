"""A link's sustainable rate, learned from the carrier's answers (sans-I/O: time is a parameter).

Every carrier throttles, and they count differently: a token bucket with a burst, a fixed
one-second window, a sliding one. What they have in common is the answer we get while we send
faster than allowed: some submits accepted, the rest refused (ESME_RTHROTTLED, ESME_RMSGQFUL, a
modem's CMS 42/47), and what is accepted in a second is what the carrier allows per second. So:

- **Cut to the measured rate.** On the first throttle after a quiet spell the new rate is what was
  accepted in the last second, less a 5 % margin. While throttling goes on, what was accepted
  since the last cut (over at least ``COOLDOWN_S``) is the better measure: a bucket's burst
  inflates the first one. The answers of one burst are one signal (``COOLDOWN_S``), and a
  fixed or sliding window that is used up (next to nothing accepted since the cut: under
  ``USED_UP`` of the rate) is not a reason to cut again: it refills within the second.
- **Storms.** Throttled with nothing accepted for ``STORM_S``: the carrier is refusing
  everything, so probe at the floor (1/s) instead of feeding it refusals; the first submit
  accepted ``STORM_HOLD_S`` after the last refusal ends the storm and the rate goes straight
  back to ``good``.
- **Remember what worked.** ``good`` is the highest rate that ran a whole hold without a
  throttle while the link was busy. After a cut and a short hold (``HOLD_S``) the rate goes back
  to ``good`` at once, then probes up by ``STEP`` every ``PROBE_S`` (faster, doubling, while far
  below the last rate that was throttled). A jump back to ``good`` that is throttled within the
  hold replaces ``good`` with the rate measured then: the carrier lowered its limit.
- Probing up needs evidence: the link must have carried at least 80 % of its rate in the last
  second, so an idle link does not drift up to a rate it never tried.

``rate`` None means unlimited: nothing throttled us yet, nothing learned, no ``max_rate``.
A configured ``max_rate`` caps everything. The learned ``rate`` and ``good`` are stored (store/flow.py)
so a restart starts where the last run left off.
"""

from __future__ import annotations

import bisect
import math
from collections import deque

COOLDOWN_S = 0.25     # throttles closer than this to a cut are part of the same signal
HOLD_S = 2.0          # quiet time after a cut before probing up again
PROBE_S = 1.0         # between probe steps
MARGIN = 0.95         # cut to this share of the measured accepted rate
STEP = 0.02           # a probe step near the limit (share of the rate)
FAST_STEP_MAX = 0.25  # probe steps double up to this while far below the last throttled rate
STORM_S = 1.5         # throttled and nothing accepted this long: everything is refused
IDLE_CUT = 0.9        # a throttle while the link was not busy: a modest cut
USED_UP = 0.5         # accepted since a cut below this share of the rate: a used-up window, not a rate
BUSY = 0.8            # probe up only when the link carried this share of its rate
FLOOR = 1.0           # never slower than this (segments/s): how a storm's end is noticed
STORM_HOLD_S = 0.5    # at the floor, one accepted submit this long after the last refusal ends the storm
MEMORY_S = 2.0        # accepted answers kept for the measures


class RateProbe:
    def __init__(self, cap: float | None = None, *, rate: float | None = None, good: float | None = None,
                 floor: float = FLOOR) -> None:
        self.cap = cap
        self.floor = min(floor, cap) if cap else floor
        self.rate: float | None = self._capped(rate) if rate else cap
        self.good: float | None = self._capped(good) if good else None
        self.bad: float | None = None          # the rate the last cut came from
        self.step = STEP
        self.throttles = 0                     # throttle answers seen (all of them)
        self.cuts = 0
        self._accepted: deque[float] = deque()
        self._accepted_total = 0
        self._total_at_cut = 0
        self.last_cut = -math.inf
        self.last_throttle = -math.inf
        self.last_accept = -math.inf
        self._jumped_at = -math.inf
        self._next_probe = -math.inf

    def _capped(self, rate: float) -> float:
        rate = max(self.floor, rate)
        return min(rate, self.cap) if self.cap else rate

    # --- what the carrier said ---------------------------------------------------------------

    def accepted(self, now: float) -> None:
        self._accepted.append(now)
        self._accepted_total += 1
        self.last_accept = now
        cutoff = now - MEMORY_S
        while self._accepted[0] < cutoff:
            self._accepted.popleft()
        self.tick(now)

    def throttled(self, now: float) -> bool:
        """A throttle answer (or a response that never came). True when the rate was cut."""
        self.throttles += 1
        self.last_throttle = now
        self._next_probe = max(self._next_probe, now + HOLD_S)
        since = now - self.last_cut
        if since < COOLDOWN_S:
            return False
        accepted_1s = self.accepted_in(now, 1.0)
        if self.rate is None:                          # the first throttle we ever saw
            new = accepted_1s * MARGIN
        elif since <= 1.0:                             # still throttled after a recent cut
            measured = (self._accepted_total - self._total_at_cut) / since
            if measured < USED_UP * self.rate:
                if now - self.last_accept < STORM_S:
                    return False                       # a used-up window: it refills on the second
                new = self.floor                       # a storm: everything refused
            else:
                new = min(self.rate, measured) * MARGIN
        else:                                          # the first throttle after a quiet spell
            if self.last_accept < now - STORM_S:
                new = self.floor
            elif accepted_1s >= USED_UP * self.rate:
                new = min(self.rate, accepted_1s) * MARGIN
            else:                                      # we were not busy (or stalled): the count
                new = self.rate * IDLE_CUT             # says nothing about the carrier's limit
        new = self._capped(new)
        if self.rate is not None and new >= self.rate:
            return False                               # already there (the floor, in a storm)
        if now - self._jumped_at < HOLD_S and new > self.floor:
            self.good = new                            # going back to it was throttled: stale
        self.bad = self.rate if self.rate is not None else accepted_1s
        self.rate = new
        self.step = STEP
        self.cuts += 1
        self.last_cut = now
        self._total_at_cut = self._accepted_total
        self._next_probe = now + HOLD_S
        return True

    # --- probing up --------------------------------------------------------------------------

    def tick(self, now: float) -> bool:
        """Probe up when the hold is over and the link is busy. True when the rate rose."""
        if self.rate is None:
            return False
        storm = self.rate <= self.floor
        hold = STORM_HOLD_S if storm else HOLD_S
        if now < (min(self._next_probe, self.last_throttle + hold) if storm else self._next_probe):
            return False
        if now - self.last_throttle < hold or self.last_accept <= self.last_throttle:
            return False
        if self.cap is not None and self.rate >= self.cap:
            return False
        if self.accepted_in(now, 1.0) < BUSY * self.rate:
            return False
        self._next_probe = now + PROBE_S
        if now - self.last_cut >= HOLD_S:
            # It ran a whole hold unthrottled and busy: what actually went through is good (not
            # the rate allowed, which a busy machine may not have reached).
            clean = min(self.rate, float(self.accepted_in(now, 1.0)))
            if self.good is None or clean > self.good:
                self.good = clean
        if self.good is not None and self.rate < self.good:
            self.rate = self._capped(self.good)
            self._jumped_at = now
            return True
        if self.bad is None or self.rate * (1 + self.step) < 0.9 * self.bad:
            self.step = min(FAST_STEP_MAX, self.step * 2)
        else:
            self.step = STEP
        self.rate = self._capped(self.rate * (1 + self.step))
        return True

    # --- measures ----------------------------------------------------------------------------

    def accepted_in(self, now: float, seconds: float) -> int:
        return len(self._accepted) - bisect.bisect_right(self._accepted, now - seconds)

    @property
    def throttled_recently(self) -> bool:
        return self.cuts > 0

    def burst(self) -> int:
        """Segments that may go at once: 50 ms of the rate, so the carrier sees a smooth flow
        (a fixed-window counter would see a whole second's burst as twice the rate)."""
        return 1 if self.rate is None else max(1, int(self.rate * 0.05))
