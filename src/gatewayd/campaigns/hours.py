"""Sending hours by law: when one recipient may get a campaign message under a rule set.

A campaign names a rule set of :mod:`.rulebook` (``hours = "us"``; ``compliance.default_hours``
when it names none). For a recipient:

- *Where*: the states whose rules apply (the area code's state from phonenumbers' geocoder, and
  a contact field ``state``; outside the set's ``regions`` no state rule applies; a number of the
  set's region whose state cannot be told gets every state rule, i.e. the strictest window) and
  the zones the recipient may be in (a contact field ``timezone``/``tz``; else phonenumbers' zones
  for the number; several of them, or none, count as unknown: the set's ``unknown_zones``).
- *When*: per local day the intersection of the matching rules, minus holidays; with several
  zones, the window must be open in all of them at once. The window closes ``margin`` seconds
  early so that what the feeder releases at 20:59 is not handed to the carrier after 21:00.

Evaluation is cached per (rule set, states, zones, UTC day): the feeder asks once per recipient,
a million recipients share a few dozen cached answers.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import geocoder
from phonenumbers import timezone as pn_tz

from .rulebook import STATE_NAMES, Book, RuleSet

HORIZON_DAYS = 14
_BY_NAME = {v.lower(): k for k, v in STATE_NAMES.items()}


@dataclass(frozen=True)
class Where:
    states: frozenset[str] | None      # None: unknown, every state rule applies
    zones: tuple[str, ...]
    zone_known: bool

    def describe(self) -> str:
        st = "state unknown" if self.states is None else (",".join(sorted(self.states)) or "no state rule")
        zone = self.zones[0] if self.zone_known else f"zone unknown: all of {len(self.zones)} zone(s)"
        return f"{st}; {zone}"


def _cache_key(phone: str) -> str:
    return phone[:8] if phone.startswith("+1") and len(phone) == 12 else phone   # +1 NPA NXX


@functools.lru_cache(maxsize=65536)
def _lookup(prefix: str) -> tuple[str | None, tuple[str, ...], str | None]:
    """(region, zones, state) of a number (by NANP NPA-NXX prefix: same answer for the block)."""
    probe = prefix.ljust(12, "0") if prefix.startswith("+1") and len(prefix) == 8 else prefix
    try:
        num = phonenumbers.parse(probe, None)
    except phonenumbers.NumberParseException:
        return None, (), None
    zones = tuple(z for z in pn_tz.time_zones_for_number(num) if z != "Etc/Unknown")
    region = phonenumbers.region_code_for_number(num)
    desc = geocoder.description_for_number(num, "en").strip()
    state = None
    if ", " in desc and len(tail := desc.rsplit(", ", 1)[1]) == 2 and tail.upper() in STATE_NAMES:
        state = tail.upper()
    elif desc:
        state = _BY_NAME.get(desc.lower())
    return region, zones, state


def _valid_zone(name: str | None) -> str | None:
    if not name:
        return None
    try:
        ZoneInfo(name)
        return name
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def jurisdiction(rs: RuleSet, phone: str, fields: dict, fallback_tz: str | None) -> Where:
    region, found, area_state = _lookup(_cache_key(phone))
    explicit = _valid_zone(fields.get("timezone") or fields.get("tz"))
    if explicit:
        zones, known = (explicit,), True
    elif len(found) == 1:
        zones, known = found, True
    elif found:
        zones, known = tuple(z for z in found if z in rs.unknown_zones) or found, False
    else:
        zones, known = rs.unknown_zones or (_valid_zone(fallback_tz) or "UTC",), False
    field_state = str(fields.get("state") or "").strip().upper() or None
    field_state = field_state if field_state in STATE_NAMES else _BY_NAME.get((field_state or "").lower())
    if region not in rs.regions and field_state is None:
        states: frozenset[str] | None = frozenset()
    elif area_state is None and field_state is None:
        states = None
    else:
        states = frozenset(s for s in (area_state, field_state) if s)
    return Where(states, zones, known)


def day_window(book: Book, rs: RuleSet, states: frozenset[str] | None,
               day: dt.date) -> tuple[dt.time, dt.time] | None:
    """The local window of ``day`` for ``states``, or None when sending is closed all day."""
    start, end = dt.time(0, 0), dt.time(23, 59, 59)
    for rule in rs.rules:
        if not rule.matches(states, day.weekday()):
            continue
        if rule.start is None or rule.end is None:
            return None
        start, end = max(start, rule.start), min(end, rule.end)
    if start >= end:
        return None
    for h in rs.holidays:
        if (states is None or states & h.states) and day in book.calendars[h.calendar].closed_dates(day.year):
            return None
    return start, end


def _intersect(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        s, e = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if s < e:
            out.append((s, e))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


@functools.lru_cache(maxsize=4096)
def _intervals(book: Book, name: str, states: frozenset[str] | None, zones: tuple[str, ...],
               margin_s: float, utc_day: int) -> tuple[tuple[float, float], ...]:
    rs = book.sets[name]
    first = dt.date(1970, 1, 1) + dt.timedelta(days=utc_day - 2)
    merged: list[tuple[float, float]] | None = None
    for zname in zones:
        z = ZoneInfo(zname)
        ivs = []
        for k in range(HORIZON_DAYS + 4):
            day = first + dt.timedelta(days=k)
            w = day_window(book, rs, states, day)
            if w is None:
                continue
            s = dt.datetime.combine(day, w[0], z).timestamp()
            e = dt.datetime.combine(day, w[1], z).timestamp() - margin_s
            if e > s:
                ivs.append((s, e))
        merged = ivs if merged is None else _intersect(merged, ivs)
    return tuple(merged or ())


def next_open(book: Book, rs: RuleSet, where: Where, now: float, margin_s: float = 0.0) -> float | None:
    """None when ``now`` is inside the window; else when it next opens (or, if it does not open
    within the horizon, the horizon's end: the recipient is looked at again then)."""
    for s, e in _intervals(book, rs.name, where.states, where.zones, margin_s, int(now // 86400)):
        if e <= now:
            continue
        return None if s <= now else s
    return now + HORIZON_DAYS * 86400.0


def describe_hold(rs: RuleSet, where: Where, until: float) -> str:
    zone = where.zones[0] if where.zone_known else "UTC"
    local = dt.datetime.fromtimestamp(until, ZoneInfo(zone))
    return f"sending hours ({rs.name}; {where.describe()}): held until {local:%a %Y-%m-%d %H:%M} {zone}"
