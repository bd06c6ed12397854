"""When campaigns run and when a recipient may be messaged: schedules and quiet hours.

All times are epoch seconds from the store's clock (wall time, injectable in tests); time zones
are IANA names handled by :mod:`zoneinfo`.

- A one-off schedule is an instant (``--at`` ISO-8601; a naive time is in the campaign's zone).
- A recurring schedule is a cron expression evaluated *in the campaign's time zone* (croniter),
  so "0 9 * * 1" means 09:00 local every Monday across DST changes.
- Missed runs: if the daemon was down when a run was due, the campaign runs once at start and the
  next run is computed from *now* (not once per missed tick: a week offline must not send seven
  daily campaigns in a burst).
- Quiet hours ``start``–``end`` ("21:00"–"08:00", wrapping midnight allowed) are in the
  recipient's local time: a contact field ``timezone`` (or ``time_zone``, ``tz``), else the zone phonenumbers gives
  for the number's country/area, else the campaign's zone.
"""

from __future__ import annotations

import datetime as dt
import functools
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from ..errors import BadRequest
from ..phones import timezone_of


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError):   # "Europe" is a directory of the tz data
        raise BadRequest(f"unknown time zone {name!r}", "bad_timezone") from None


def parse_at(text: str, tz: str | None) -> float:
    """ISO-8601 to epoch; a time without an offset is read in ``tz``."""
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"--at {text!r}: expected ISO-8601, e.g. 2026-11-23T09:00 or 2026-11-23T09:00+01:00",
                         "bad_time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone(tz))
    return when.timestamp()


def check_cron(expr: str) -> None:
    if not croniter.is_valid(expr):
        raise BadRequest(f"invalid cron expression {expr!r} (five fields: minute hour day month weekday)", "bad_cron")


def next_cron(expr: str, tz: str | None, after: float) -> float:
    """The first cron tick strictly after ``after``, evaluated in ``tz``."""
    check_cron(expr)
    start = dt.datetime.fromtimestamp(after, zone(tz))
    return croniter(expr, start).get_next(dt.datetime).timestamp()


def _hm(text: str) -> dt.time:
    try:
        h, m = text.strip().split(":")
        return dt.time(int(h), int(m))
    except ValueError:
        raise BadRequest(f"quiet hours: {text!r} is not HH:MM", "bad_quiet_hours") from None


def check_quiet(start: str | None, end: str | None) -> None:
    if (start is None) != (end is None):
        raise BadRequest("quiet hours need both a start and an end", "bad_quiet_hours")
    if start is not None and end is not None and _hm(start) == _hm(end):
        raise BadRequest("quiet hours start and end are equal", "bad_quiet_hours")


@functools.lru_cache(maxsize=4096)
def _prefix_zone(prefix: str) -> str | None:
    return timezone_of(prefix)


def recipient_zone(phone: str, fields: dict, fallback: str | None) -> str:
    explicit = fields.get("timezone") or fields.get("time_zone") or fields.get("tz")
    if explicit:
        try:
            ZoneInfo(explicit)
            return explicit
        except (ZoneInfoNotFoundError, ValueError):
            pass
    # Zones are per country/area code: cache by the first digits instead of per phone.
    return _prefix_zone_safe(phone) or fallback or "UTC"


def _prefix_zone_safe(phone: str) -> str | None:
    found = _prefix_zone(phone[:8].ljust(len(phone), "0")) if len(phone) > 8 else None
    return found or timezone_of(phone)


def quiet_until(now: float, start: str | None, end: str | None, tz: str) -> float | None:
    """When the recipient's window reopens, or None if ``now`` is outside quiet hours."""
    if start is None or end is None:
        return None
    z = zone(tz)
    local = dt.datetime.fromtimestamp(now, z)
    s, e = _hm(start), _hm(end)
    t = local.time()
    quiet = (s <= t < e) if s < e else (t >= s or t < e)
    if not quiet:
        return None
    day = local.date() if (s < e or t < e) else local.date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, e, z).timestamp()
