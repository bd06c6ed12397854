"""A database restored from a backup: what it says is unsent may have gone out since.

``gatewayctl backup`` marks its copy (a one-row ``backup_origin`` table, in the copy only). A
daemon that starts on a database carrying that mark is running on a restored backup: every
message that was not final when the backup was taken may have been sent (and receipted) after
it, by the daemon whose database was lost. Each is flagged ``possible duplicate`` with a history
line, then treated as the operator's ``[queue] crash_policy`` says for an unknown outcome:
``resend`` (default) sends the queued ones again, flagged; ``fail`` fails them with the reason;
``assume_sent`` counts them as sent. Messages ``sent`` (accepted, awaiting a receipt) are only
flagged; those ``sending`` are left to crash recovery, which flags them too. The mark is then
removed, so this happens once. (Measured on the incident that prompted this: 1,328 messages
queued in the backup had been sent, and only the 8 that were ``sending`` were flagged.)
"""

from __future__ import annotations

import datetime as dt
import sqlite3

from ..models import MsgState
from . import messages as mq
from .store import Tx

MARKER = "backup_origin"


def mark_copy(conn: sqlite3.Connection, taken_at: float) -> None:
    """Called on the backup's own connection, after the copy: the live database is untouched."""
    conn.execute(f"CREATE TABLE {MARKER}(taken_at REAL NOT NULL)")
    conn.execute(f"INSERT INTO {MARKER}(taken_at) VALUES (?)", (taken_at,))
    conn.commit()


def after_restore(tx: Tx, policy: str) -> dict[str, object] | None:
    """Flag and resolve what a restored backup holds unfinished; None when not a restore."""
    db = tx.db
    if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (MARKER,)).fetchone() is None:
        return None
    taken_at = db.execute(f"SELECT max(taken_at) FROM {MARKER}").fetchone()[0] or 0.0
    when = dt.datetime.fromtimestamp(taken_at, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    detail = f"restored from a backup taken {when}: may have been sent since (possible duplicate)"
    counts = {"requeued": 0, "failed": 0, "assumed_sent": 0, "flagged_sent": 0}
    queued = [r[0] for r in db.execute("SELECT id FROM messages WHERE state = 'queued'")]
    for mid in queued:
        if policy == "fail":
            db.execute("UPDATE segments SET state = 'failed' WHERE message_id = ? AND state = 'queued'", (mid,))
            mq.set_state(tx, mid, MsgState.FAILED, detail, error_code="restored",
                         error_text=f"outcome unknown: {detail}", possible_duplicate=1)
            counts["failed"] += 1
        elif policy == "assume_sent":
            db.execute("UPDATE segments SET state = 'sent' WHERE message_id = ? AND state = 'queued'", (mid,))
            mq.set_state(tx, mid, MsgState.SENT, detail, possible_duplicate=1)
            counts["assumed_sent"] += 1
        else:
            mq.set_state(tx, mid, MsgState.QUEUED, detail, possible_duplicate=1)
            counts["requeued"] += 1
    counts["flagged_sent"] = db.execute(
        "UPDATE messages SET possible_duplicate = 1 WHERE state = 'sent'").rowcount
    db.execute(f"DROP TABLE {MARKER}")
    tx.emit("queue.restored", taken_at=taken_at, policy=policy, **counts)
    return {"taken_at": when, **counts}
