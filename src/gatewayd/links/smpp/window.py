"""The SMPP window of one bind, learned from ESME_RMSGQFUL (sans-I/O: time is a parameter).

Some SMSCs limit what is in flight rather than the rate: beyond N unanswered submit_sm they
answer ESME_RMSGQFUL (0x14). When one comes back we know the SMSC had at least that many of
ours unanswered when the refused one arrived, and at most the number we had outstanding before
sending it: so the window shrinks to that number (never below 1, never up again on answers to
submits sent under a larger window). It grows back by one after ``GROW_S`` without a queue-full
answer and with at least a window's worth accepted, up to the configured ``window``: an SMSC
that was only briefly full gets the whole window back within seconds, one that really limits
in-flight submits costs one refusal per probe.

The refused submit is also a throttle answer for the rate (sending/flow.py): an SMSC that
says "queue full" for "too fast" is slowed down too.
"""

from __future__ import annotations

import math

GROW_S = 2.0


class WindowProbe:
    def __init__(self, configured: int) -> None:
        self.configured = max(1, configured)
        self.size = self.configured
        self.last_full = -math.inf
        self._accepted = 0

    def queue_full(self, outstanding_before: int, now: float) -> bool:
        """ESME_RMSGQFUL for a submit sent with ``outstanding_before`` others unanswered.
        True when the window shrank."""
        self.last_full = now
        self._accepted = 0
        new = max(1, min(self.size, outstanding_before))
        if new < self.size:
            self.size = new
            return True
        return False

    def accepted(self, now: float) -> bool:
        """A submit answered (not queue-full). True when the window grew."""
        self._accepted += 1
        if self.size >= self.configured or now - self.last_full < GROW_S or self._accepted < self.size:
            return False
        self.size += 1
        self.last_full = now - GROW_S / 2      # the next step up waits half a period more
        self._accepted = 0
        return True
