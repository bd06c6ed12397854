"""Formatting shared by tables: timestamps, message states with icons, truncation."""

from __future__ import annotations

import time

from rich.text import Text

from .status import STATE_STYLE

#: Seed 001's status icons: pending (blue arrow), sent (green check), undelivered (red circle).
STATE_ICON = {
    "queued": "↻", "sending": "↻", "sent": "✓", "delivered": "✔", "undelivered": "●",
    "failed": "✖", "expired": "⌛", "unreachable": "⊘", "ignored": "–", "cancelled": "–",
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


def state_text(state: str, with_icon: bool = True) -> Text:
    icon = STATE_ICON.get(state, "?")
    return Text(f"{icon} {state}" if with_icon else state, style=STATE_STYLE.get(state, ""))


def clip(text: str, width: int) -> str:
    text = text.replace("\n", " ⏎ ")
    return text if len(text) <= width else text[: width - 1] + "…"
