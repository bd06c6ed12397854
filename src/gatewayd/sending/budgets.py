"""Carrier budgets that span numbers (US 10DLC practice), sans-I/O.

A carrier (or The Campaign Registry) grants throughput to a *brand* or a *campaign*, not to one
number: e.g. 3,600 segments a minute for a 10DLC campaign across all its numbers, 200,000 a day for
a brand. A ``[[budgets]]`` entry names such a grant; numbers name the budgets their traffic counts
against (``numbers[].budgets``) and a gatewayd campaign may name one more (its ``budget``, stamped
on each of its script messages as ``messages.budget``). A message goes only when every budget that
applies to it has room.

Decisions:
- Counted in segments, at claim time (what the dispatcher hands to a link); a submit the carrier
  refused (throttled, rejected, link down before sending) is refunded, a time-out is not (it may
  have been sent), nor is a message resent after a crash (``crash_policy = "resend"``): erring on
  the side of the carrier's count.
- ``per_second`` and ``per_minute`` are *sliding* windows: never more than the limit in any second
  or minute, as carriers measure, so a budget never bursts twice its limit across a boundary. They
  live in memory: a restart forgets at most one minute of use.
- ``per_day`` is a calendar day in the budget's ``tz`` (default UTC; T-Mobile's daily caps reset at
  midnight Pacific, so ``tz = "America/Los_Angeles"`` fits them). It is kept in the store
  (``budget_usage``) and survives a restart.
- A spent budget holds its messages ``queued``: they are not claimed, so they are never attempted,
  failed or ignored, and keep per-recipient order (a held message still blocks later ones to the
  same recipient). Only their TTL ends them.
- Priority across numbers: a lane that finds a budget spent registers the priority of its best
  waiting message; while a higher-priority lane is due, other lanes sharing that budget claim only
  messages of at least that priority. So when a budget is scarce an agent's reply on one number
  goes before bulk on another (within one number the claim is in priority order anyway).
  Message-level (campaign) budgets do not take part: their messages are all one campaign's.
- A message larger than a budget's whole limit (a 3-segment message, ``per_second = 2``) goes when
  the budget is untouched, overdrawing it by that message, rather than never.
- A budget named by a message but no longer configured holds that message (a carrier limit the
  operator once set is not silently dropped); ``reason`` says so.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from ..config import BudgetConfig, Config

#: How long a registered higher-priority waiter may hold other lanes back after it was due, and
#: how early before it is due it already does (lanes that wake at one refill race for it).
WAITER_GRACE_S = 2.0
WAITER_AHEAD_S = 0.25
UNLIMITED = 1 << 30
RESERVED_RETRY_S = 0.02


def _min(a: float | None, b: float) -> float:
    return b if a is None else min(a, b)


class Window:
    """At most ``limit`` segments in any ``span`` seconds (a log of (time, segments))."""

    def __init__(self, limit: int, span: float) -> None:
        self.limit = limit
        self.span = span
        self.log: deque[list[float]] = deque()
        self.used = 0

    def _prune(self, now: float) -> None:
        while self.log and self.log[0][0] <= now - self.span:
            self.used -= int(self.log.popleft()[1])

    def remaining(self, now: float) -> int:
        self._prune(now)
        return self.limit - self.used

    def add(self, n: int, now: float) -> None:
        if self.log and self.log[-1][0] == now:
            self.log[-1][1] += n
        else:
            self.log.append([now, n])
        self.used += n

    def refund(self, n: int) -> None:
        """Take back from the newest entries: the window then says what really went, and expires
        it no earlier than the true submit time would."""
        while n > 0 and self.log:
            last = self.log[-1]
            k = min(n, int(last[1]))
            last[1] -= k
            self.used -= k
            n -= k
            if last[1] <= 0:
                self.log.pop()

    def free_at(self, need: int, now: float) -> float:
        """When ``need`` segments will fit again (now if they fit)."""
        self._prune(now)
        over = self.used + need - self.limit
        if over <= 0:
            return now
        for at, n in self.log:
            over -= int(n)
            if over <= 0:
                return at + self.span
        return now + self.span


class Day:
    """A calendar-day counter in a time zone (the store keeps the count across restarts)."""

    def __init__(self, limit: int, tz: str) -> None:
        self.limit = limit
        self.zone = ZoneInfo(tz)
        self.day = ""
        self.used = 0

    def key(self, wall: float) -> str:
        return dt.datetime.fromtimestamp(wall, self.zone).strftime("%Y-%m-%d")

    def roll(self, wall: float) -> str:
        day = self.key(wall)
        if day != self.day:
            self.day, self.used = day, 0
        return day

    def remaining(self, wall: float) -> int:
        self.roll(wall)
        return self.limit - self.used

    def resets_at(self, wall: float) -> float:
        local = dt.datetime.fromtimestamp(wall, self.zone)
        tomorrow = (local + dt.timedelta(days=1)).date()
        return dt.datetime.combine(tomorrow, dt.time(), self.zone).timestamp()


class Budget:
    def __init__(self, cfg: BudgetConfig) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.windows = [Window(lim, span) for lim, span in ((cfg.per_second, 1.0), (cfg.per_minute, 60.0)) if lim]
        self.day = Day(cfg.per_day, cfg.tz) if cfg.per_day else None
        self.capacity = min(lim for lim in (cfg.per_second, cfg.per_minute, cfg.per_day) if lim)
        self.reserved = 0
        self.waiting: dict[str, tuple[int, float]] = {}   # sender -> (priority, due at)

    def reconfigure(self, cfg: BudgetConfig) -> None:
        """New limits, same use so far (a reload does not hand out a fresh minute or day)."""
        old = {w.span: w for w in self.windows}
        old_day = self.day
        self.__init__(cfg)  # type: ignore[misc]
        for w in self.windows:
            if w.span in old:
                w.log, w.used = old[w.span].log, old[w.span].used
        if self.day and old_day and old_day.zone == self.day.zone:
            self.day.day, self.day.used = old_day.day, old_day.used

    def remaining(self, now: float, wall: float) -> int:
        left = min([w.remaining(now) for w in self.windows] + ([self.day.remaining(wall)] if self.day else []))
        return left - self.reserved

    def untouched(self, now: float, wall: float) -> bool:
        return self.remaining(now, wall) >= self.capacity

    def free_in(self, need: int, now: float, wall: float) -> float:
        """Seconds until ``need`` segments fit (0 when they do). Held only by another lane's
        reservation (its claim is a round trip through the store): look again very soon."""
        need = min(need, self.capacity)
        if self.reserved and self.remaining(now, wall) + self.reserved >= need:
            return RESERVED_RETRY_S
        wait = max([w.free_at(need, now) - now for w in self.windows] + [0.0])
        if self.day and self.day.remaining(wall) < need:
            wait = max(wait, self.day.resets_at(wall) - wall)
        return wait

    def take(self, n: int, now: float, wall: float) -> None:
        for w in self.windows:
            w.add(n, now)
        if self.day:
            self.day.roll(wall)
            self.day.used += n

    def refund(self, n: int, day: str) -> None:
        for w in self.windows:
            w.refund(n)
        if self.day and self.day.day == day:
            self.day.used = max(0, self.day.used - n)

    def blocker(self, sender: str, now: float) -> int:
        """The priority another lane is due to claim at (-1: none), stale registrations dropped."""
        best = -1
        for s, (prio, due) in list(self.waiting.items()):
            if due + WAITER_GRACE_S < now:
                del self.waiting[s]
            elif s != sender and due <= now + WAITER_AHEAD_S and prio > best:
                best = prio
        return best

    def view(self, now: float, wall: float) -> dict[str, object]:
        c = self.cfg
        windows = {w.span: w for w in self.windows}
        used = {"second": windows[1.0].limit - windows[1.0].remaining(now) if 1.0 in windows else None,
                "minute": windows[60.0].limit - windows[60.0].remaining(now) if 60.0 in windows else None,
                "today": (self.day.limit - self.day.remaining(wall)) if self.day else None}
        left = max(0, self.remaining(now, wall) + self.reserved)
        return {"name": self.name, "per_second": c.per_second, "per_minute": c.per_minute, "per_day": c.per_day,
                "tz": c.tz, "used_second": used["second"], "used_minute": used["minute"], "used_today": used["today"],
                "remaining": left, "refills_in_s": round(self.free_in(1, now, wall), 3),
                "waiting": sorted(self.waiting)}

    def explain(self, now: float, wall: float) -> str:
        """Why this budget holds messages now, for operators."""
        parts = []
        for w in self.windows:
            if w.remaining(now) <= 0:
                unit = "second" if w.span == 1.0 else "minute"
                parts.append(f"{w.limit}/{unit} used, refills in {w.free_at(1, now) - now:.0f} s")
        if self.day and self.day.remaining(wall) <= 0:
            at = dt.datetime.fromtimestamp(self.day.resets_at(wall), self.day.zone)
            parts.append(f"{self.day.limit}/day used, resets {at:%Y-%m-%d %H:%M} {self.cfg.tz}")
        return f"waiting for budget {self.name}: " + ("; ".join(parts) or "spent")


@dataclass
class Gate:
    """What one claim of one lane may take, reserved until :meth:`Book.settle`."""

    segments: int                          # total segments the claim may take
    hard: bool = False                     # True: a first message larger than ``segments`` waits
    min_priority: int = 0
    caps: dict[str, int] | None = None     # message-level budgets with room -> segments left
    overdraw: set[str] = field(default_factory=set)
    hold_s: float | None = None            # a number budget is spent: wait this long
    retry_s: float | None = None           # earliest refill of a spent message-level budget
    days: dict[str, str] = field(default_factory=dict)   # budget -> day key (per_day budgets)
    number: list[Budget] = field(default_factory=list)
    reserved: list[tuple[Budget, int]] = field(default_factory=list)

    def usage(self, claimed: Iterable[tuple[str | None, int]]) -> dict[str, int]:
        """Segments per budget for what was claimed: ``(message budget, segments)`` pairs."""
        out: dict[str, int] = {}
        total = 0
        mine = {b.name for b in self.number}
        for name, n in claimed:
            total += n
            if name is not None and name not in mine:
                out[name] = out.get(name, 0) + n
        for b in self.number:
            out[b.name] = out.get(b.name, 0) + total
        return {k: v for k, v in out.items() if v}


OPEN = Gate(segments=UNLIMITED)


class Book:
    """Every configured budget, and which numbers count against which."""

    def __init__(self, cfg: Config) -> None:
        self.budgets: dict[str, Budget] = {}
        self.by_number: dict[str, list[Budget]] = {}
        self.reconfigure(cfg)

    def reconfigure(self, cfg: Config) -> list[str]:
        """Apply a (re)loaded config; returns the names of budgets that are new (their day's use
        should be read from the store)."""
        new = []
        budgets: dict[str, Budget] = {}
        for bc in cfg.budgets:
            b = self.budgets.get(bc.name)
            if b is None:
                b = Budget(bc)
                new.append(bc.name)
            else:
                b.reconfigure(bc)
            budgets[bc.name] = b
        self.budgets = budgets
        self.by_number = {n.address: [budgets[x] for x in n.budgets if x in budgets] for n in cfg.numbers}
        return new

    @property
    def active(self) -> bool:
        return bool(self.budgets)

    def day_keys(self, wall: float, names: Iterable[str] | None = None) -> dict[str, str]:
        return {b.name: b.day.key(wall) for b in self.budgets.values()
                if b.day and (names is None or b.name in names)}

    def restore(self, usage: dict[str, int], wall: float) -> None:
        """The day's use read from the store at start (``{budget: segments}`` for today)."""
        for name, used in usage.items():
            b = self.budgets.get(name)
            if b is not None and b.day is not None:
                b.day.roll(wall)
                b.day.used = max(b.day.used, used)

    # ---- the dispatcher's hook -----------------------------------------------------------------

    def gate(self, sender: str, limit: int, now: float, wall: float) -> Gate:
        """How much ``sender``'s next claim may take, of at most ``limit`` segments; reserves it."""
        if not self.budgets:
            return OPEN
        number = self.by_number.get(sender, [])
        g = Gate(segments=limit, number=number)
        for b in number:
            left = b.remaining(now, wall)
            if left <= 0:
                g.hold_s = max(g.hold_s or 0.0, b.free_in(1, now, wall), 0.01)
            elif left < g.segments:
                g.segments = left
                g.hard = not b.untouched(now, wall)
                if g.hard:   # a larger message may not fit yet: look again as the window frees
                    g.retry_s = _min(g.retry_s, max(b.free_in(left + 1, now, wall), 0.01))
            g.min_priority = max(g.min_priority, b.blocker(sender, now))
        if g.hold_s is not None:
            return g
        if g.min_priority > 0:   # held back for another lane: it kicks us when it has claimed
            g.retry_s = _min(g.retry_s, WAITER_GRACE_S)
        g.caps = {}
        for b in self.budgets.values():
            if b in number:   # a campaign naming its number's budget: counted once, in the total
                g.caps[b.name] = g.segments
                continue
            left = b.remaining(now, wall)
            if left > 0:
                g.caps[b.name] = left
                if b.untouched(now, wall):
                    g.overdraw.add(b.name)
            else:
                g.retry_s = _min(g.retry_s, max(b.free_in(1, now, wall), 0.01))
        g.days = self.day_keys(wall)
        for b in number:
            b.reserved += g.segments
            g.reserved.append((b, g.segments))
        for name, left in g.caps.items():
            b = self.budgets[name]
            if b in number:
                continue
            take = min(left, g.segments)
            b.reserved += take
            g.reserved.append((b, take))
        return g

    def settle(self, sender: str, g: Gate, claimed: Iterable[tuple[str | None, int]], now: float,
               wall: float) -> list[str]:
        """Release the reservation and count what was claimed. Returns the senders to wake: the
        lanes this one held back while it was due.

        A lane that was waiting and claimed something stays registered (as due now) until a claim
        of it comes back empty: it goes round again at once, and until it has re-registered what
        it still has waiting, a lane of lower priority must not take the next refill."""
        for b, n in g.reserved:
            b.reserved -= n
        g.reserved = []
        usage = g.usage(claimed)
        for name, n in usage.items():
            b = self.budgets.get(name)
            if b is not None:
                b.take(n, now, wall)
        woken: set[str] = set()
        for b in g.number:
            reg = b.waiting.get(sender)
            if reg is None:
                continue
            if usage:
                b.waiting[sender] = (reg[0], min(reg[1], now))
            else:
                del b.waiting[sender]
                woken.update(s for s, nums in self.by_number.items() if b in nums and s != sender)
        return sorted(woken)

    def refund(self, sender: str, budget: str | None, segments: int, days: dict[str, str]) -> dict[str, int]:
        """A claimed message was not sent: give its segments back. Returns {budget: segments}."""
        names = [b.name for b in self.by_number.get(sender, [])]
        names += [budget] if budget and budget not in names else []
        out = {}
        for name in names:
            b = self.budgets.get(name)
            if b is not None:
                b.refund(segments, days.get(name, ""))
                out[name] = out.get(name, 0) + segments
        return out

    def wait(self, sender: str, priority: int, due: float) -> None:
        """``sender`` is held by a spent budget with a message of ``priority`` ready; it will try
        again at ``due`` (monotonic)."""
        for b in self.by_number.get(sender, []):
            b.waiting[sender] = (priority, due)

    # ---- what operators see -------------------------------------------------------------------

    def names_for(self, sender: str | None, budget: str | None) -> list[str]:
        names = [b.name for b in self.by_number.get(sender or "", [])]
        return names + ([budget] if budget and budget not in names else [])

    def reason(self, names: Iterable[str], now: float, wall: float) -> str | None:
        """Why messages counted against ``names`` are held right now (None: they may go)."""
        for name in names:
            b = self.budgets.get(name)
            if b is None:
                return f"waiting for budget {name}: not configured (add it to [[budgets]] or remove it)"
            if b.remaining(now, wall) + b.reserved <= 0:
                return b.explain(now, wall)
        return None

    def views(self, now: float, wall: float) -> list[dict[str, object]]:
        out = []
        for b in self.budgets.values():
            v = b.view(now, wall)
            v["numbers"] = sorted(s for s, nums in self.by_number.items() if b in nums)
            out.append(v)
        return out
