"""Wizard pickers: a recurring schedule that writes the cron expression, and A/B variants.

The daemon stores a recurring campaign as a cron expression evaluated in the *campaign's* time
zone (croniter, next tick strictly after now), so the picker only generates cron text and shows
the next runs computed the same way; "advanced" leaves the expression free. A/B variants are the
daemon's ``variants`` list: any number of ``{"script", "weight"}`` percentages whose total is at
most 100, the main script getting the rest; the picker checks that before the daemon would
refuse the launch.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Checkbox, Input, Label, Select, Static

FREQUENCIES = [("daily", "daily"), ("weekly", "weekly"), ("monthly", "monthly"), ("advanced: cron", "cron")]
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]   # cron numbers 1..6, 0
_SIMPLE = re.compile(r"^(\d{1,2}) (\d{1,2}) (\*|\d{1,2}) \* (\*|[0-7](?:,[0-7])*)$")
_HM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def build_cron(freq: str, time: str, weekdays: list[int], day: str) -> str:
    """Cron text for a picked frequency; ``weekdays`` are 0=Mon..6=Sun. ValueError says what is wrong."""
    m = _HM.match(time.strip())
    if not m:
        raise ValueError(f"time {time!r}: expected HH:MM, e.g. 09:30")
    minute, hour = int(m.group(2)), int(m.group(1))
    if freq == "daily":
        return f"{minute} {hour} * * *"
    if freq == "weekly":
        if not weekdays:
            raise ValueError("pick at least one weekday")
        return f"{minute} {hour} * * " + ",".join(str((d + 1) % 7) for d in sorted(weekdays, key=lambda d: (d + 1) % 7))
    if freq == "monthly":
        if not day.strip().isdigit() or not 1 <= int(day) <= 31:
            raise ValueError(f"day of month {day!r}: expected 1 to 31")
        return f"{minute} {hour} {int(day)} * *"
    raise ValueError(f"unknown frequency {freq!r}")


def parse_cron(expr: str) -> tuple[str, str, list[int], str] | None:
    """(freq, time, weekdays, day) when ``expr`` is one the picker can show, else None."""
    m = _SIMPLE.match(expr.strip())
    if not m:
        return None
    minute, hour, dom, dow = m.groups()
    if int(minute) > 59 or int(hour) > 23:
        return None
    time = f"{int(hour):02d}:{int(minute):02d}"
    if dom == "*" and dow == "*":
        return "daily", time, [], ""
    if dom == "*":
        return "weekly", time, sorted({(int(d) + 6) % 7 for d in dow.split(",")}), ""
    if dow == "*":
        return "monthly", time, [], dom
    return None


def next_runs(expr: str, tz: str, after: float, count: int = 3) -> list[dt.datetime]:
    """The next ``count`` ticks strictly after ``after``, in ``tz``: what the daemon will compute."""
    it = croniter(expr, dt.datetime.fromtimestamp(after, ZoneInfo(tz or "UTC")))
    return [it.get_next(dt.datetime) for _ in range(count)]


def check(expr: str, tz: str) -> str | None:
    """What the daemon would refuse in this schedule (None when it accepts it)."""
    if not expr:
        return "pick a frequency or type a cron expression"
    try:
        ZoneInfo(tz or "UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError):   # "Europe" is a directory: OSError
        return f"unknown time zone {tz!r}"
    if not croniter.is_valid(expr):
        return f"{expr!r} is not a cron expression (minute hour day month weekday)"
    return None


def runs_text(expr: str, tz: str, after: float) -> Text:
    """The next three sends in the campaign's zone, with the operator's local time when it differs."""
    problem = check(expr, tz)
    if problem:
        return Text(problem, style="red")
    zone = ZoneInfo(tz or "UTC")
    here = dt.datetime.now().astimezone().tzinfo
    t = Text("next sends:", style="bold")
    for when in next_runs(expr, zone.key, after):
        t.append(f"\n  {when:%a %Y-%m-%d %H:%M} {zone.key}")
        local = when.astimezone(here)
        if local.utcoffset() != when.utcoffset():
            t.append(f" ({local:%H:%M} {local.tzname()} here)", style="dim")
    return t


class RecurrencePicker(Vertical):
    """Frequency, time of day, weekdays or day of month -> ``#wz-cron``, with the next sends."""

    DEFAULT_CSS = """
    RecurrencePicker { height: auto; }
    RecurrencePicker .row { height: 1; margin-top: 1; }
    RecurrencePicker Label { width: auto; padding: 0 1 0 0; }
    RecurrencePicker #wz-rec-freq { width: 18; margin-right: 1; }
    RecurrencePicker #wz-rec-time { width: 7; margin-right: 1; }
    RecurrencePicker #wz-rec-day-box { width: auto; }
    RecurrencePicker #wz-rec-day { width: 4; }
    RecurrencePicker #wz-rec-days Checkbox { width: auto; margin-right: 1; }
    RecurrencePicker #wz-cron { width: 1fr; }
    RecurrencePicker #wz-next-runs { height: auto; margin-top: 1; }
    """

    def __init__(self, cron: str, clock: Callable[[], float]) -> None:
        super().__init__(id="wz-recurrence")
        self.clock = clock
        self.tz = "UTC"
        self.error: str | None = None
        self.initial = parse_cron(cron) if cron else ("weekly", "09:00", [0], "")
        self.initial_cron = cron

    def compose(self) -> ComposeResult:
        freq, time, days, day = self.initial or ("cron", "09:00", [], "1")
        with Horizontal(classes="row"):
            yield Label("every")
            yield Select(FREQUENCIES, value=freq, allow_blank=False, id="wz-rec-freq", compact=True)
            yield Label("at")
            yield Input(time, placeholder="HH:MM", id="wz-rec-time", compact=True)
            with Horizontal(id="wz-rec-day-box"):
                yield Label("on day")
                yield Input(day or "1", placeholder="1-31", id="wz-rec-day", compact=True)
        with Horizontal(classes="row", id="wz-rec-days"):
            yield Label("on")
            for i, name in enumerate(WEEKDAYS):
                yield Checkbox(name, i in days, id=f"wz-rec-{name.lower()}", compact=True)
        with Horizontal(classes="row"):
            yield Label("cron")
            yield Input(self.initial_cron, placeholder="0 9 * * 1  (Mondays 09:00)", id="wz-cron", compact=True)
        yield Static("", id="wz-next-runs")

    def on_mount(self) -> None:
        self.update()

    @property
    def freq(self) -> str:
        return str(self.query_one("#wz-rec-freq", Select).value)

    @on(Select.Changed)
    @on(Input.Changed, "#wz-rec-time, #wz-rec-day, #wz-cron")
    @on(Checkbox.Changed)
    def _changed(self) -> None:
        self.update()

    def set_tz(self, tz: str) -> None:
        self.tz = tz
        self.update()

    def update(self) -> None:
        """Show the fields of the frequency, regenerate the cron text, recompute the next sends."""
        freq = self.freq
        self.query_one("#wz-rec-days").display = freq == "weekly"
        self.query_one("#wz-rec-day-box").display = freq == "monthly"
        self.query_one("#wz-rec-time").display = freq != "cron"
        cron = self.query_one("#wz-cron", Input)
        cron.disabled = freq != "cron"
        out = self.query_one("#wz-next-runs", Static)
        if freq != "cron":
            days = [i for i, name in enumerate(WEEKDAYS) if self.query_one(f"#wz-rec-{name.lower()}", Checkbox).value]
            try:
                expr = build_cron(freq, self.query_one("#wz-rec-time", Input).value, days,
                                  self.query_one("#wz-rec-day", Input).value)
            except ValueError as exc:
                self.error = str(exc)
                out.update(Text(self.error, style="red"))
                return
            if cron.value != expr:
                with cron.prevent(Input.Changed):
                    cron.value = expr
        self.error = check(cron.value.strip(), self.tz)
        out.update(runs_text(cron.value.strip(), self.tz, self.clock()))

    @property
    def cron(self) -> str:
        return self.query_one("#wz-cron", Input).value.strip()


class VariantRow(Horizontal):
    DEFAULT_CSS = """
    VariantRow { height: 1; margin-bottom: 1; }
    VariantRow .ab-script { width: 1fr; margin-right: 1; }
    VariantRow .ab-percent { width: 8; }
    VariantRow .ab-unit { width: 3; padding: 0 0 0 1; }
    """

    def __init__(self, options: list[str], serial: int) -> None:
        super().__init__(id=f"wz-ab-{serial}")
        self.options = options

    def compose(self) -> ComposeResult:
        yield Select([(n, n) for n in self.options], prompt="variant script", classes="ab-script", compact=True)
        yield Input("", placeholder="share", classes="ab-percent", type="number", compact=True)
        yield Label("%", classes="ab-unit")

    def value(self) -> tuple[str | None, str]:
        script = self.query_one(".ab-script", Select).value
        return (script if isinstance(script, str) else None), self.query_one(".ab-percent", Input).value.strip()


class VariantPicker(Vertical):
    """Zero or more (script, percent) rows; the summary shows the main script's remaining share."""

    DEFAULT_CSS = """
    VariantPicker { height: auto; }
    VariantPicker #wz-ab-box { height: auto; margin-top: 1; }
    VariantPicker #wz-ab-summary { height: auto; }
    """

    def __init__(self) -> None:
        super().__init__(id="wz-ab")
        self.scripts: list[str] = []
        self.main: str | None = None
        self._serial = 0

    def compose(self) -> ComposeResult:
        yield Label("A/B test: variant scripts and the share of contacts each gets", classes="section")
        yield Vertical(id="wz-ab-box")
        yield Static("", id="wz-ab-summary")

    def on_mount(self) -> None:
        self.summarise()

    @property
    def rows(self) -> list[VariantRow]:
        return [r for r in self.query(VariantRow) if not r.has_class("-removed")]

    @property
    def choices(self) -> list[str]:
        """Scripts a variant may use: any but the main one (it already gets the rest)."""
        return [n for n in self.scripts if n != self.main]

    def set_scripts(self, names: list[str], main: str | None) -> None:
        self.scripts, self.main = names, main
        for row in self.rows:
            sel = row.query_one(".ab-script", Select)
            keep = sel.value
            sel.set_options([(n, n) for n in self.choices])
            if keep in self.choices:
                sel.value = keep
        self.summarise()

    async def add_row(self, script: str | None = None, weight: float | None = None) -> VariantRow:
        self._serial += 1
        row = VariantRow(self.choices, self._serial)
        await self.query_one("#wz-ab-box").mount(row)
        if script in self.choices:
            row.query_one(".ab-script", Select).value = script
        if weight is not None:
            row.query_one(".ab-percent", Input).value = f"{weight:g}"
        return row

    def remove_row(self) -> bool:
        rows = self.rows
        if not rows:
            return False
        focused = self.screen.focused
        target = next((r for r in rows if focused is not None and r in focused.ancestors_with_self), rows[-1])
        target.add_class("-removed")   # out of rows() at once: removal finishes later
        target.remove()
        self.summarise()
        return True

    @on(Select.Changed)
    @on(Input.Changed)
    def _changed(self) -> None:
        self.summarise()

    def variants(self) -> list[dict] | str:
        """``[{"script", "weight"}]`` for ``CampaignFields.variants``, or what to fix first."""
        out: list[dict] = []
        for i, row in enumerate(self.rows, 1):
            script, raw = row.value()
            if script is None and not raw:
                continue   # an untouched row is not a variant
            if script is None:
                return f"A/B variant {i}: choose a script."
            if script == self.main:
                return f"A/B variant {i}: {script!r} is already the main script."
            if any(v["script"] == script for v in out):
                return f"A/B variant {i}: {script!r} is chosen twice."
            try:
                weight = float(raw)
            except ValueError:
                return f"A/B variant {i} ({script}): give a percentage."
            if not 0 < weight <= 100:
                return f"A/B variant {i} ({script}): the percentage must be between 0 and 100."
            out.append({"script": script, "weight": weight})
        total = sum(v["weight"] for v in out)
        if total > 100:
            return (f"A/B variants add up to {total:g}%; at most 100% (the main script gets what is left).")
        return out

    def summarise(self) -> None:
        got = self.variants()
        summary = self.query_one("#wz-ab-summary", Static)
        if isinstance(got, str):
            summary.update(Text(got, style="red"))
        elif not got:
            summary.update(Text("No A/B test: every contact gets the main script.", style="dim"))
        else:
            rest = 100 - sum(v["weight"] for v in got)
            summary.update(Text(" · ".join([f"{self.main or 'main script'} {rest:g}%"]
                                           + [f"{v['script']} {v['weight']:g}%" for v in got])))
