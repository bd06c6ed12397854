"""Which link carries a number's next message, and the per-link runtime state the choice uses.

Rule (documented in the README): a number's ``links`` are in priority order. With
``routing = "order"`` the first link that is up, enabled and has a free window slot is used, so
traffic fails over to the next link when one is down and spills over when the first is saturated;
it returns to the first as soon as that link is back. With ``routing = "weight"`` traffic is spread
over every healthy link in proportion to its ``weight``: the link furthest below its share of the
last 10 s (sent plus in flight) gets the next claim, and claims are kept to one window.
A message is bound to one link for one submit attempt: failover never submits the same message
twice (a link that is down answers ``link_down`` without sending anything).
"""

from __future__ import annotations

import bisect
import logging
import time

import trio

from ..config import LinkConfig, NumberConfig, SimConfig
from ..links.base import Link, LinkStatus
from ..models import LinkState
from .flow import RateProbe
from .pacing import TokenBucket

#: How far ahead of its window a link that queues submits itself may be claimed, in seconds of
#: its (and the number's) rate: enough to refill a freed slot without waiting for a claim's round
#: trip through the store, too little for a stalled link to bank a burst past the pacing.
AHEAD_S = 0.05
#: ...and at most this many windows: a link in its own process answers a hop later, and the claim
#: that refills it waits for a commit (bench, window 50: 3,220 msg/s at one window ahead, 3,770 at four).
AHEAD_WINDOWS = 4
log = logging.getLogger(__name__)
WEIGHT_WINDOW_S = 10.0     # routing = "weight" shares what was sent over this sliding window


class LinkRuntime:
    """A link plus what the dispatcher tracks about it: window use, pacing, health."""

    def __init__(self, link: Link, cfg: LinkConfig, now: float) -> None:
        self.link = link
        self.cfg = cfg
        self.name = cfg.name
        self.window = max(1, link.window)
        self.in_flight = 0      # claimed for this link and not yet answered (window + ahead)
        self.ahead = AHEAD_WINDOWS * self.window if getattr(link, "queues_submits", False) else 0
        self.enabled = cfg.enabled
        self.flow = RateProbe(max_rate(cfg))
        self._saved: tuple | None = None       # what store/flow.py has of ``flow``
        self.bucket = TokenBucket(self.flow.rate, self.flow.burst(), now)
        self.status = LinkStatus(link=cfg.name, kind=link.kind, state=LinkState.STARTING)
        self.sent_times: list[float] = []
        self.changed = trio.Event()     # set when a slot frees or the state changes

    @property
    def usable(self) -> bool:
        return self.enabled and self.link.is_up

    @property
    def free(self) -> int:
        return self.room(None)

    def room(self, number_rate: float | None) -> int:
        """Segments that may be claimed for this link now: the free window, plus (links that queue
        submits) ``AHEAD_WINDOWS`` windows ahead, capped at ``AHEAD_S`` of the link's and the number's rate."""
        ahead = self.ahead
        for rate in (self.bucket.rate, number_rate):
            if rate is not None:
                ahead = min(ahead, int(rate * AHEAD_S))
        return self.window + ahead - self.in_flight

    @property
    def on_wire(self) -> int:
        """Submits outstanding at the carrier (what the window limits), for status."""
        return min(self.in_flight, getattr(self.link, "outstanding", self.in_flight))

    def notify(self) -> None:
        self.changed.set()
        self.changed = trio.Event()

    def learned(self, rate: float | None, good: float | None) -> None:
        """Start from what an earlier run learned (store/flow.py), within ``max_rate``."""
        self.flow = RateProbe(self.flow.cap, rate=rate, good=good)
        self._saved = (self.name, rate, good)
        self._sync()

    def learned_row(self) -> tuple[str, float | None, float | None] | None:
        """``(link, rate, good)`` to store when it changed since the last save; nothing for a link
        that never learned anything (never throttled, nothing stored)."""
        row = (self.name, _round(self.flow.rate), _round(self.flow.good))
        if row == self._saved or (self._saved is None and not self.flow.cuts):
            return None
        self._saved = row
        return row

    @property
    def current_window(self) -> int:
        """The window in force: an SMPP link shrinks its own on ESME_RMSGQFUL (status detail)."""
        window = self.status.detail.get("window")
        return int(window) if isinstance(window, (int, float)) and window > 0 else self.window

    def on_throttle(self, now: float) -> bool:
        """A throttle answer or a response that never came: True when the rate was cut."""
        cut = self.flow.throttled(now)
        if cut:
            self._sync()
        return cut

    def tick(self, now: float) -> None:
        if self.flow.tick(now):
            self._sync()

    def _sync(self) -> None:
        if self.bucket.rate != self.flow.rate:
            log.debug("%s: rate %s/s", self.name, self.flow.rate)
            self.bucket.set_rate(self.flow.rate, self.flow.burst())

    def record_sent(self, now: float) -> None:
        self.sent_times.append(now)
        if len(self.sent_times) > 5000:
            del self.sent_times[:2500]
        before = self.flow.rate
        self.flow.accepted(now)
        if self.flow.rate != before:
            self._sync()

    def recent_rate(self, now: float, window: float = 10.0) -> float:
        return self.sent_last(now, window) / window

    def sent_last(self, now: float, seconds: float = 60.0) -> int:
        # sent_times is appended in time order: count the tail by bisection, not by a scan.
        return len(self.sent_times) - bisect.bisect_right(self.sent_times, now - seconds)


def _round(rate: float | None) -> float | None:
    return None if rate is None else round(rate, 2)


def max_rate(cfg: LinkConfig) -> float | None:
    """The configured cap of a link's rate: ``max_rate``, or its older name ``max_tps`` (smpp; a
    sim's ``max_tps`` is the simulated carrier's limit, learned like a real one), or a modem's
    ``max_per_minute``; None: only what the carrier's answers teach."""
    rate = getattr(cfg, "max_rate", None)
    if rate is None and not isinstance(cfg, SimConfig):
        rate = getattr(cfg, "max_tps", None)
    per_min = getattr(cfg, "max_per_minute", None)
    if rate is None and per_min:
        rate = per_min / 60.0
    return rate


class Router:
    def __init__(self, links: dict[str, LinkRuntime]) -> None:
        self.links = links

    def candidates(self, number: NumberConfig) -> list[LinkRuntime]:
        return [self.links[n] for n in number.links if n in self.links and self.links[n].usable]

    def pick(self, number: NumberConfig, now: float | None = None) -> LinkRuntime | None:
        """The link for the next claim. ``weight``: the one furthest below its share of what was
        sent in the last ``WEIGHT_WINDOW_S`` plus what is in flight (a sliding window, so a link
        back from an outage is not flooded to catch up on an old lead)."""
        healthy = [lr for lr in self.candidates(number) if lr.free > 0]
        if not healthy:
            return None
        if getattr(number, "routing", "order") == "weight":
            t = trio.current_time() if now is None else now
            return min(healthy, key=lambda lr: (lr.sent_last(t, WEIGHT_WINDOW_S) + lr.in_flight + 1)
                       / getattr(lr.cfg, "weight", 1))
        return healthy[0]

    def any_up(self, number: NumberConfig) -> bool:
        return bool(self.candidates(number))

    async def wait_change(self, number: NumberConfig, timeout: float) -> None:
        """Sleep until one of the number's links frees a slot or changes state."""
        events = [self.links[n].changed for n in number.links if n in self.links]
        with trio.move_on_after(timeout):
            async with trio.open_nursery() as nursery:
                for ev in events:
                    async def waiter(ev: trio.Event = ev) -> None:
                        await ev.wait()
                        nursery.cancel_scope.cancel()
                    nursery.start_soon(waiter)


def now() -> float:
    return time.time()
