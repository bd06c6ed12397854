"""Formatting shared by tables: timestamps, message states with icons, truncation."""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo

from rich.text import Text

from .status import STATE_STYLE

#: Seed 001's status icons: pending (blue arrow), sent (green check), undelivered (red circle).
STATE_ICON = {
    "queued": "↻", "sending": "↻", "sent": "✓", "delivered": "✔", "undelivered": "●",
    "failed": "✖", "expired": "⌛", "unreachable": "⊘", "ignored": "–", "cancelled": "–",
    "pending": "↻", "received": "←",
}
CAMPAIGN_STYLE = {
    "draft": "dim", "scheduled": "cyan", "processing": "blue", "sending": "bold blue", "paused": "yellow",
    "suspended": "bold red", "finished": "green", "stopped": "magenta", "archived": "dim",
}


def when(ts: float | None, now: float | None = None) -> str:
    """``HH:MM:SS`` today, ``MM-DD HH:MM`` otherwise (local time; the footer shows the zone)."""
    if ts is None:
        return "—"
    lt = time.localtime(ts)
    today = time.localtime(now if now is not None else time.time())
    if (lt.tm_year, lt.tm_yday) == (today.tm_year, today.tm_yday):
        return time.strftime("%H:%M:%S", lt)
    return time.strftime("%m-%d %H:%M", lt)


def full_time(ts: float | None) -> str:
    if ts is None:
        return "—"
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(ts))


def zoned(ts: float | None, tz: str | None, show_zone: bool) -> str:
    """A campaign time: ``YYYY-MM-DD HH:MM`` in local time, or in the campaign's zone with its name."""
    if ts is None:
        return "—"
    if not show_zone:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))
    try:
        zone = ZoneInfo(tz or "UTC")
    except Exception:
        zone = ZoneInfo("UTC")
    return dt.datetime.fromtimestamp(ts, zone).strftime("%Y-%m-%d %H:%M %Z")


def state_text(state: str, with_icon: bool = True) -> Text:
    icon = STATE_ICON.get(state, "?")
    return Text(f"{icon} {state}" if with_icon else state, style=STATE_STYLE.get(state, ""))


def campaign_status(status: str) -> Text:
    return Text(status, style=CAMPAIGN_STYLE.get(status, ""))


def clip(text: str, width: int) -> str:
    text = text.replace("\n", " ⏎ ")
    return text if len(text) <= width else text[: width - 1] + "…"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"
