"""Waiting for the UI without sleeping blindly: poll a condition between Pilot pauses, bounded."""

from __future__ import annotations

import asyncio
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


def notes(app) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]
