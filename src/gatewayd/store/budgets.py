"""What carrier budgets (sending/budgets.py) keep in the store.

- ``messages.budget``: the message-level budget a message counts against besides its number's
  (a campaign's ``budget``, stamped at enqueue so the claim filters on the row itself and the core
  needs no campaign table). NULL for most traffic.
- ``budget_usage``: segments counted per budget and day (the day in the budget's own zone), so a
  spent daily budget stays spent across a restart. Written in the claim's transaction, refunded
  when a claimed message was not sent.
"""

from __future__ import annotations

import sqlite3

from .store import Tx

MIGRATIONS = [
    (
        "budgets-0001",
        """
ALTER TABLE messages ADD COLUMN budget TEXT;
CREATE TABLE budget_usage (
  budget TEXT NOT NULL,
  day TEXT NOT NULL,
  segments INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (budget, day)
);
""",
    ),
]

_ADD = ("INSERT INTO budget_usage(budget, day, segments) VALUES (?, ?, ?)"
        " ON CONFLICT(budget, day) DO UPDATE SET segments = segments + excluded.segments")


_REFUND = ("UPDATE budget_usage SET segments = CASE WHEN segments > ? THEN segments - ? ELSE 0 END"
           " WHERE budget = ? AND day = ?")


def add_usage(tx: Tx, usage: dict[str, int], days: dict[str, str]) -> None:
    """Count ``usage`` ({budget: segments}, negative to refund) for budgets with a daily limit.
    A refund never takes a day below zero (one that came after midnight finds a fresh day)."""
    rows = [(name, days[name], n) for name, n in usage.items() if n > 0 and name in days]
    if rows:
        tx.db.executemany(_ADD, rows)
    back = [(-n, -n, name, days[name]) for name, n in usage.items() if n < 0 and name in days]
    if back:
        tx.db.executemany(_REFUND, back)


def usage_on(db: sqlite3.Connection, days: dict[str, str]) -> dict[str, int]:
    """Each budget's count on its given day (what a restart resumes from)."""
    out = {}
    for name, day in days.items():
        row = db.execute("SELECT segments FROM budget_usage WHERE budget = ? AND day = ?", (name, day)).fetchone()
        if row is not None:
            out[name] = int(row[0])
    return out


def top_priority(db: sqlite3.Connection, sender: str, now: float) -> int | None:
    """The best priority among ``sender``'s ready queued messages (None: nothing is ready)."""
    row = db.execute("SELECT max(priority) FROM messages WHERE state = 'queued' AND sender = ? AND not_before <= ?",
                     (sender, now)).fetchone()
    return None if row is None or row[0] is None else int(row[0])
