"""Carrier flow control in the database: deferred submits and each link's learned rate.

A submit the carrier throttled (ESME_RTHROTTLED, ESME_RMSGQFUL, a modem's CMS 42/47), or whose
answer never came while the link answered nothing else, is *deferred*: the message goes back to
``queued`` in its place (same id, same priority, ``not_before`` untouched, so it is the next one
claimed and still blocks later messages to its recipient), its ``attempts`` are not counted, and
the segments its claim charged to the number's daily usage are given back. Only its TTL ends it.
A deferred time-out keeps the ``possible_duplicate`` flag: the carrier may have it.

``link_flow`` keeps what the dispatcher learned about each link (sending/flow.py): the rate it
runs at and the last rate that ran clean, so a restart starts from there (an SMPP link's window
is learned again per bind: links/smpp/window.py).
"""

from __future__ import annotations

from typing import Any

from ..models import MsgState
from . import messages as mq
from . import receipts
from .store import Tx

MIGRATIONS = [
    (
        "flow-0001",
        """
CREATE TABLE link_flow (
  link TEXT PRIMARY KEY,
  rate REAL,
  good REAL,
  updated_at REAL NOT NULL
);
""",
    ),
]


def deferred(tx: Tx, r: mq.SegResult, sent: list[mq.SegResult], *, day: str, refund: int,
             duplicate_risk: bool) -> None:
    """``r``'s segment was throttled (or timed out): back to queued, not an attempt.
    ``sent``: segments of the same message accepted before it (multipart)."""
    for s in sent:
        receipts.segment_sent(tx, s)
    tx.db.execute("UPDATE segments SET state = 'queued', error_code = ?, error_text = ? WHERE id = ?",
                  (r.error_code, r.error_text, r.segment_id))
    tx.db.execute("UPDATE segments SET state = 'queued' WHERE message_id = ? AND state = 'sending'",
                  (r.message_id,))
    extra: dict[str, Any] = {"possible_duplicate": 1} if duplicate_risk else {}
    what = "no answer" if duplicate_risk else "throttled"
    mq.set_state(tx, r.message_id, MsgState.QUEUED,
                 f"deferred ({what}, not an attempt): {r.error_code} {r.error_text or ''}".strip(),
                 error_code=r.error_code, error_text=r.error_text, **extra)
    if refund:
        tx.db.execute("UPDATE daily_usage SET segments = max(0, segments - ?)"
                      " WHERE number = (SELECT sender FROM messages WHERE id = ?) AND day = ?",
                      (refund, r.message_id, day))


def save(tx: Tx, rows: list[tuple[str, float | None, float | None]]) -> None:
    """``(link, rate, good)`` per link whose learned state changed."""
    for link, rate, good in rows:
        tx.db.execute(
            "INSERT INTO link_flow(link, rate, good, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(link) DO UPDATE SET rate = excluded.rate, good = excluded.good,"
            " updated_at = excluded.updated_at",
            (link, rate, good, tx.now))


def load(db) -> dict[str, tuple[float | None, float | None]]:
    return {r[0]: (r[1], r[2]) for r in db.execute("SELECT link, rate, good FROM link_flow")}
