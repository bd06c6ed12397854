"""Waiting for the UI without sleeping blindly: poll a condition between Pilot pauses, bounded."""

from __future__ import annotations

import asyncio
import re
from typing import Callable

from textual.pilot import Pilot
from textual.widgets import DataTable


async def until(pilot: Pilot, cond: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    try:
        async with asyncio.timeout(timeout):
            while not cond():
                await pilot.pause(0.01)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def cells(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def column(table: DataTable, index: int) -> list[str]:
    return [row[index] for row in cells(table)]


def rows_by_label(table: DataTable) -> list[dict[str, str]]:
    """Rows as {column label: text}: what a user reads, whatever order the columns are in."""
    labels = [str(c.label) for c in table.ordered_columns]
    return [dict(zip(labels, row)) for row in cells(table)]


def read_table(screen: str, *labels: str) -> list[dict[str, str]]:
    """Rows of the on-screen table whose header has ``labels``, as {label: text}, read by column
    the way a user reads them (labels are separated by two or more spaces in the header)."""
    lines = screen.splitlines()
    head = next((i for i, line in enumerate(lines) if all(label in line for label in labels)), None)
    if head is None:
        return []
    starts = [(m.start(), m.group()) for m in re.finditer(r"[^\s│](?:\S| (?! ))*", lines[head])]
    rows = []
    for line in lines[head + 1:]:
        if not line.strip(" │") or "╰" in line:
            break
        ends = [s for s, _ in starts[1:]] + [len(line)]
        rows.append({label: line[start:end].strip(" │") for (start, label), end in zip(starts, ends)})
    return rows


def screen_text(app) -> str:
    """The terminal as the user sees it (what is clipped or scrolled away is not there)."""
    return "\n".join("".join(seg.text for seg in strip) for strip in app.screen._compositor.render_strips())


def notes(app) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]
