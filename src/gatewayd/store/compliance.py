"""Schema and queries of the compliance rules on campaigns (issue 17: hours, caps, holds).

- ``campaigns.hours``: the campaign's sending-hours rule set (NULL: ``hours.default``; "none": no
  rule set even when a default is configured).
- ``campaign_contacts.held_reason`` / ``held_since``: why a recipient's due step waits (sending
  hours, quiet hours, frequency cap) and since when, so an operator sees it and a cap hold can
  end in ``unreachable`` when the TTL runs out. Cleared when the step is enqueued.
- ``hold_slots``: per campaign and window opening, the last release time handed out.
- ``ix_msg_freq``: the frequency cap counts one recipient's campaign messages over 7 days with a
  range scan of this index, whatever the size of the table.
"""

from __future__ import annotations

import sqlite3

MIGRATIONS = [
    (
        "compliance-0001",
        """
ALTER TABLE campaigns ADD COLUMN hours TEXT;
ALTER TABLE campaign_contacts ADD COLUMN held_reason TEXT;
ALTER TABLE campaign_contacts ADD COLUMN held_since REAL;
CREATE INDEX ix_msg_freq ON messages(recipient, created_at) WHERE source = 'campaign';
-- The tail of each release chain: recipients held until the same opening (08:00 in one zone)
-- get due times one gap apart in the order they were held, instead of all at 08:00:00.
CREATE TABLE hold_slots (
  campaign_id INTEGER NOT NULL,
  opens_at REAL NOT NULL,
  last_slot REAL NOT NULL,
  PRIMARY KEY (campaign_id, opens_at)
) WITHOUT ROWID;
""",
    ),
]

#: States of a campaign message that count towards a cap: on its way or handed to a carrier.
#: Ignored, cancelled, unreachable and expired messages never left; failed ones were refused.
COUNTED = ("queued", "sending", "sent", "delivered", "undelivered")


def campaign_sends_since(db: sqlite3.Connection, phone: str, since: float) -> list[float]:
    """When each counted campaign message to ``phone`` since ``since`` was created, oldest first."""
    marks = ",".join("?" * len(COUNTED))
    return [r[0] for r in db.execute(
        f"SELECT created_at FROM messages WHERE recipient = ? AND source = 'campaign' AND created_at >= ?"
        f" AND state IN ({marks}) ORDER BY created_at", (phone, since, *COUNTED))]


def next_slot(db: sqlite3.Connection, campaign_id: int, opens_at: float, gap: float, now: float) -> float:
    """The release time of the next recipient held until ``opens_at``: the opening itself for the
    first, then one ``gap`` after the previous one (a chain per opening, kept in ``hold_slots``)."""
    row = db.execute("SELECT last_slot FROM hold_slots WHERE campaign_id = ? AND opens_at = ?",
                     (campaign_id, opens_at)).fetchone()
    slot = opens_at if row is None else max(opens_at, row[0] + gap)
    if row is None:
        db.execute("DELETE FROM hold_slots WHERE campaign_id = ? AND opens_at < ?", (campaign_id, now - 86400))
        db.execute("INSERT INTO hold_slots(campaign_id, opens_at, last_slot) VALUES (?, ?, ?)",
                   (campaign_id, opens_at, slot))
    else:
        db.execute("UPDATE hold_slots SET last_slot = ? WHERE campaign_id = ? AND opens_at = ?",
                   (slot, campaign_id, opens_at))
    return slot


def hold(db: sqlite3.Connection, campaign_id: int, contact_id: int, until: float, reason: str, now: float) -> None:
    db.execute("UPDATE campaign_contacts SET next_at = ?, held_reason = ?, held_since = coalesce(held_since, ?),"
               " updated_at = ? WHERE campaign_id = ? AND contact_id = ?",
               (until, reason, now, now, campaign_id, contact_id))


def held_since(db: sqlite3.Connection, campaign_id: int, contact_id: int) -> float | None:
    row = db.execute("SELECT held_since FROM campaign_contacts WHERE campaign_id = ? AND contact_id = ?",
                     (campaign_id, contact_id)).fetchone()
    return row[0] if row else None


def clear_hold(db: sqlite3.Connection, campaign_id: int, contact_id: int) -> None:
    db.execute("UPDATE campaign_contacts SET held_reason = NULL, held_since = NULL WHERE campaign_id = ?"
               " AND contact_id = ? AND held_reason IS NOT NULL", (campaign_id, contact_id))


def held_summary(db: sqlite3.Connection, campaign_id: int) -> dict[str, int]:
    """Waiting recipients by the kind of hold (the reason up to its first parenthesis or colon)."""
    out: dict[str, int] = {}
    for reason, n in db.execute("SELECT held_reason, count(*) FROM campaign_contacts WHERE campaign_id = ?"
                                " AND state = 'active' AND pending = 0 AND held_reason IS NOT NULL"
                                " GROUP BY held_reason", (campaign_id,)):
        kind = reason.split(" (")[0].split(":")[0]
        out[kind] = out.get(kind, 0) + n
    return out
