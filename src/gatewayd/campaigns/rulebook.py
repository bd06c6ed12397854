"""The sending-hours rule file (``data/sending_hours.toml``): loaded, checked row by row, frozen.

Pure data and validation, no clock: :mod:`.hours` evaluates it. A bad file is refused whole with
the key of the bad row and the reason (``sets.us.rules[3].hours: '25:00-21:00' is not HH:MM-HH:MM``),
never loaded half-way: a typo in a law must not silently widen a window.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: USPS codes of the states, DC and territories (a rule naming another code is a typo).
STATE_NAMES = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California", "CO": "Colorado",
    "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia", "FL": "Florida", "GA": "Georgia",
    "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois", "IN": "Indiana", "IA": "Iowa", "KS": "Kansas",
    "KY": "Kentucky", "LA": "Louisiana", "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts",
    "MI": "Michigan", "MN": "Minnesota", "MS": "Mississippi", "MO": "Missouri", "MT": "Montana",
    "NE": "Nebraska", "NV": "Nevada", "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico",
    "NY": "New York", "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma",
    "OR": "Oregon", "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina", "SD": "South Dakota",
    "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VT": "Vermont", "VA": "Virginia", "WA": "Washington",
    "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming", "PR": "Puerto Rico", "GU": "Guam",
    "VI": "U.S. Virgin Islands", "AS": "American Samoa", "MP": "Northern Mariana Islands",
}
BUILTIN = "sending_hours.toml"


class RuleFileError(ValueError):
    """A rule file that cannot be used; ``key`` is the path of the bad row or value and ``line``
    the line of that row's ``[[...]]`` header when it has one ("file:57: sets.us.rules[6].hours: ...")."""

    def __init__(self, source: str, key: str, reason: str, line: int | None = None) -> None:
        self.source, self.key, self.reason, self.line = source, key, reason, line
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {key + ': ' if key else ''}{reason}")


_ROW = re.compile(r"^(sets\.[\w-]+\.(?:rules|holidays))\[(\d+)\]")


def _row_line(text: str, key: str) -> int | None:
    """The line of the n-th ``[[sets.X.rules]]`` header: the row an operator edits."""
    m = _ROW.match(key)
    if not m:
        return None
    header = re.compile(rf"^\s*\[\[\s*{re.escape(m.group(1))}\s*\]\]")
    hits = [i for i, ln in enumerate(text.splitlines(), 1) if header.match(ln)]
    n = int(m.group(2))
    return hits[n] if n < len(hits) else None


@dataclass(frozen=True)
class Rule:
    states: frozenset[str]          # "*" = everyone
    days: frozenset[int]            # 0 = Monday
    start: dt.time | None           # None with end None: closed that day
    end: dt.time | None
    law: str
    source: str

    def matches(self, states: frozenset[str] | None, weekday: int) -> bool:
        """``states`` None = unknown jurisdiction: every rule applies (the strictest window)."""
        if weekday not in self.days:
            return False
        return "*" in self.states or states is None or bool(states & self.states)


@dataclass(frozen=True)
class HolidayRule:
    states: frozenset[str]
    calendar: str
    law: str


@dataclass(frozen=True, eq=False)
class Calendar:
    name: str
    holidays: tuple[dict, ...]
    observed: str
    dates: frozenset[dt.date]

    def closed_dates(self, year: int) -> frozenset[dt.date]:
        """The year's holidays and, conservatively, their observed weekdays too."""
        out = {d for d in self.dates if d.year == year}
        for h in self.holidays:
            d = _holiday_date(h, year)
            out.add(d)
            if self.observed == "nearest_weekday":
                if d.weekday() == 5:
                    out.add(d - dt.timedelta(days=1))
                elif d.weekday() == 6:
                    out.add(d + dt.timedelta(days=1))
        return frozenset(out)


@dataclass(frozen=True)
class RuleSet:
    name: str
    title: str
    rules: tuple[Rule, ...]
    holidays: tuple[HolidayRule, ...]
    opt_out_required: bool
    unknown_zones: tuple[str, ...]
    regions: tuple[str, ...]         # phonenumbers regions whose state is looked up by area code


@dataclass(frozen=True, eq=False)
class Book:
    source: str
    reviewed: str
    sets: dict[str, RuleSet] = field(default_factory=dict)
    calendars: dict[str, Calendar] = field(default_factory=dict)


def _holiday_date(h: dict, year: int) -> dt.date:
    if "day" in h:
        return dt.date(year, h["month"], h["day"])
    wd = WEEKDAYS.index(h["weekday"])
    if h["nth"] > 0:
        first = dt.date(year, h["month"], 1)
        return first + dt.timedelta(days=(wd - first.weekday()) % 7 + 7 * (h["nth"] - 1))
    nxt = dt.date(year + (h["month"] == 12), h["month"] % 12 + 1, 1)
    last = nxt - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - wd) % 7)


class _Reader:
    def __init__(self, source: str, text: str = "") -> None:
        self.source, self.raw = source, text

    def fail(self, key: str, reason: str) -> RuleFileError:
        return RuleFileError(self.source, key, reason, _row_line(self.raw, key))

    def table(self, value: Any, key: str, allowed: set[str], required: set[str] = frozenset()) -> dict:
        if not isinstance(value, dict):
            raise self.fail(key, "expected a table")
        for k in value:
            if k not in allowed:
                raise self.fail(f"{key}.{k}" if key else k, f"unknown key (known: {', '.join(sorted(allowed))})")
        for k in sorted(required):
            if k not in value:
                raise self.fail(f"{key}.{k}" if key else k, "missing")
        return value

    def text(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, "expected a non-empty string")
        return value

    def states(self, value: Any, key: str) -> frozenset[str]:
        if not isinstance(value, list) or not value:
            raise self.fail(key, 'expected a list of state codes, e.g. ["TX"], or ["*"] for everyone')
        for i, s in enumerate(value):
            if s != "*" and s not in STATE_NAMES:
                raise self.fail(f"{key}[{i}]", f"{s!r} is not a US state code")
        return frozenset(value)

    def days(self, value: Any, key: str) -> frozenset[int]:
        if not isinstance(value, str):
            raise self.fail(key, 'expected days like "mon-sun", "mon-fri", "sat,sun"')
        out: set[int] = set()
        for part in value.lower().replace(" ", "").split(","):
            a, _, b = part.partition("-")
            for day in (a, b) if b else (a,):
                if day not in WEEKDAYS:
                    raise self.fail(key, f"{value!r}: {day!r} is not a day (mon, tue, wed, thu, fri, sat, sun)")
            i, j = WEEKDAYS.index(a), WEEKDAYS.index(b or a)
            if j < i:
                raise self.fail(key, f"{value!r}: {part!r} runs backwards")
            out.update(range(i, j + 1))
        return frozenset(out)

    def hours(self, value: Any, key: str) -> tuple[dt.time | None, dt.time | None]:
        if value == "closed":
            return None, None
        try:
            a, b = str(value).split("-")
            start, end = (dt.time(*map(int, x.strip().split(":"))) for x in (a, b))
        except (ValueError, TypeError):
            raise self.fail(key, f'{value!r} is not HH:MM-HH:MM (or "closed")') from None
        if start >= end:
            raise self.fail(key, f"{value!r}: the window must end after it starts (same day)")
        return start, end

    def zone(self, value: Any, key: str) -> str:
        try:
            ZoneInfo(str(value))
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise self.fail(key, f"unknown time zone {value!r}") from None
        return str(value)


def _calendar(r: _Reader, name: str, raw: Any) -> Calendar:
    key = f"calendars.{name}"
    raw = r.table(raw, key, {"title", "source", "observed", "holidays", "dates"}, {"source", "holidays"})
    observed = raw.get("observed", "none")
    if observed not in ("none", "nearest_weekday"):
        raise r.fail(f"{key}.observed", f"{observed!r}: expected 'none' or 'nearest_weekday'")
    holidays = []
    for i, h in enumerate(raw["holidays"] if isinstance(raw["holidays"], list) else [None]):
        hk = f"{key}.holidays[{i}]"
        h = r.table(h, hk, {"name", "month", "day", "weekday", "nth"}, {"name", "month"})
        if not isinstance(h["month"], int) or not 1 <= h["month"] <= 12:
            raise r.fail(f"{hk}.month", f"{h['month']!r} is not a month (1-12)")
        if "day" in h:
            if "weekday" in h or "nth" in h:
                raise r.fail(hk, "give either day, or weekday and nth")
            try:
                dt.date(2024, h["month"], h["day"])
            except (TypeError, ValueError):
                raise r.fail(f"{hk}.day", f"{h['day']!r} is not a day of month {h['month']}") from None
        elif h.get("weekday") not in WEEKDAYS or h.get("nth") not in (1, 2, 3, 4, -1):
            raise r.fail(hk, "needs day, or weekday (mon..sun) and nth (1-4, or -1 for the last)")
        holidays.append(h)
    dates = set()
    for i, d in enumerate(raw.get("dates", [])):
        try:
            dates.add(d if isinstance(d, dt.date) else dt.date.fromisoformat(str(d)))
        except ValueError:
            raise r.fail(f"{key}.dates[{i}]", f"{d!r} is not a date (YYYY-MM-DD)") from None
    return Calendar(name, tuple(holidays), observed, frozenset(dates))


def _ruleset(r: _Reader, name: str, raw: Any, calendars: dict[str, Calendar]) -> RuleSet:
    key = f"sets.{name}"
    raw = r.table(raw, key, {"title", "opt_out_required", "unknown_zones", "regions", "rules", "holidays"},
                  {"title", "rules"})
    rules = []
    if not isinstance(raw["rules"], list) or not raw["rules"]:
        raise r.fail(f"{key}.rules", "a rule set needs at least one [[rules]] row")
    for i, row in enumerate(raw["rules"]):
        rk = f"{key}.rules[{i}]"
        row = r.table(row, rk, {"states", "days", "hours", "law", "source", "note"},
                      {"states", "days", "hours", "law", "source"})
        start, end = r.hours(row["hours"], f"{rk}.hours")
        rules.append(Rule(r.states(row["states"], f"{rk}.states"), r.days(row["days"], f"{rk}.days"), start, end,
                          r.text(row["law"], f"{rk}.law"), r.text(row["source"], f"{rk}.source")))
    holidays = []
    for i, row in enumerate(raw.get("holidays", [])):
        hk = f"{key}.holidays[{i}]"
        row = r.table(row, hk, {"states", "calendar", "law", "source"}, {"states", "calendar", "law", "source"})
        if row["calendar"] not in calendars:
            raise r.fail(f"{hk}.calendar", f"no calendar {row['calendar']!r} (known: {', '.join(calendars) or 'none'})")
        r.text(row["source"], f"{hk}.source")
        holidays.append(HolidayRule(r.states(row["states"], f"{hk}.states"), row["calendar"],
                                    r.text(row["law"], f"{hk}.law")))
    opt = raw.get("opt_out_required", False)
    if not isinstance(opt, bool):
        raise r.fail(f"{key}.opt_out_required", "expected true or false")
    zones = tuple(r.zone(z, f"{key}.unknown_zones[{i}]") for i, z in enumerate(raw.get("unknown_zones", [])))
    regions = raw.get("regions", ["US"])
    if not isinstance(regions, list) or not all(isinstance(x, str) for x in regions):
        raise r.fail(f"{key}.regions", 'expected a list of region codes, e.g. ["US"]')
    return RuleSet(name, r.text(raw["title"], f"{key}.title"), tuple(rules), tuple(holidays), opt, zones,
                   tuple(regions))


def parse(text: str, source: str) -> Book:
    """A checked :class:`Book`, or :class:`RuleFileError` naming the first bad key."""
    r = _Reader(source, text)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise r.fail("", f"invalid TOML: {exc}") from None
    r.table(raw, "", {"reviewed", "calendars", "sets"}, {"sets"})
    cals_raw = r.table(raw.get("calendars", {}), "calendars", set(raw.get("calendars", {})))
    calendars = {n: _calendar(r, n, v) for n, v in cals_raw.items()}
    sets_raw = r.table(raw["sets"], "sets", set(raw["sets"]) if isinstance(raw["sets"], dict) else set())
    if not sets_raw:
        raise r.fail("sets", "no rule set defined")
    sets = {n: _ruleset(r, n, v, calendars) for n, v in sets_raw.items()}
    return Book(source, str(raw.get("reviewed", "")), sets, calendars)


@functools.lru_cache(maxsize=8)
def _load(path: str | None, mtime: float) -> Book:
    if path is None:
        text = resources.files("gatewayd.campaigns").joinpath("data", BUILTIN).read_text()
        return parse(text, f"(built-in) {BUILTIN}")
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise RuleFileError(path, "", f"cannot read: {exc.strerror}") from None
    return parse(text, path)


def load(path: str | None = None) -> Book:
    """The built-in rule file, or ``path``; cached until the file changes."""
    mtime = 0.0
    if path is not None:
        try:
            mtime = Path(path).stat().st_mtime
        except OSError:
            pass
    return _load(path, mtime)
