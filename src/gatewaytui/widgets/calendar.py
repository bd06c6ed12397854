"""A keyboard-driven month calendar with a count per day (the Scheduled tab's calendar view).

The grid is computed by :func:`month_grid` (pure, tested alone); the widget draws it, moves the
selected day with the arrow keys (PageUp/PageDown change month) and posts :class:`DayChanged` so
the screen can list that day's campaigns.
"""

from __future__ import annotations

import calendar
import datetime as dt

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget


def month_grid(year: int, month: int) -> list[list[dt.date | None]]:
    """Weeks (Monday first) of the month; days outside it are None."""
    weeks = calendar.Calendar(firstweekday=0).monthdatescalendar(year, month)
    return [[d if d.month == month else None for d in week] for week in weeks]


def shift_month(day: dt.date, months: int) -> dt.date:
    y, m = divmod(day.year * 12 + day.month - 1 + months, 12)
    last = calendar.monthrange(y, m + 1)[1]
    return dt.date(y, m + 1, min(day.day, last))


class MonthCalendar(Widget, can_focus=True):
    BINDINGS = [
        Binding("left", "move(-1)", "Prev day", show=False),
        Binding("right", "move(1)", "Next day", show=False),
        Binding("up", "move(-7)", "Prev week", show=False),
        Binding("down", "move(7)", "Next week", show=False),
        Binding("pageup", "month(-1)", "Prev month"),
        Binding("pagedown", "month(1)", "Next month"),
    ]

    day: reactive[dt.date] = reactive(dt.date.today)

    class DayChanged(Message):
        def __init__(self, day: dt.date) -> None:
            super().__init__()
            self.day = day

    def __init__(self, counts: dict[dt.date, int] | None = None, *, today: dt.date | None = None,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.counts = counts or {}
        self.today = today or dt.date.today()
        self.set_reactive(MonthCalendar.day, self.today)

    def set_counts(self, counts: dict[dt.date, int]) -> None:
        self.counts = counts
        self.refresh()

    def watch_day(self, old: dt.date, new: dt.date) -> None:
        self.post_message(self.DayChanged(new))

    def action_move(self, days: int) -> None:
        self.day = self.day + dt.timedelta(days=days)

    def action_month(self, months: int) -> None:
        self.day = shift_month(self.day, months)

    def render(self) -> Text:
        d = self.day
        t = Text(justify="left", no_wrap=True)
        t.append(f"{calendar.month_name[d.month]} {d.year}".center(35), style="bold")
        t.append("\n")
        t.append("".join(f"{w:^5}" for w in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")), style="dim")
        for week in month_grid(d.year, d.month):
            t.append("\n")
            for day in week:
                if day is None:
                    t.append("     ")
                    continue
                n = self.counts.get(day, 0)
                cell = f"{day.day:>2}" + (f"·{n}" if n else "  ")
                style = "reverse bold" if day == d else ("bold cyan" if n else "")
                if day == self.today and day != d:
                    style += " underline"
                t.append(f"{cell:<4}", style=style.strip())
                t.append(" ")
        return t

    def get_content_width(self, container, viewport) -> int:
        return 35

    def get_content_height(self, container, viewport, width: int) -> int:
        return 2 + len(month_grid(self.day.year, self.day.month))
