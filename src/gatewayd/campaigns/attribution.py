"""Reply attribution (seed 000) and what a reply does to the campaign it belongs to.

"We will always look to see what campaign sent the last message before receiving a reply": a
reply from a contact to one of our numbers belongs to the campaign of the most recent message we
sent *to that contact from that number* before the reply. "Sent" means it left the queue
(``sending``, ``sent``, ``delivered``, ``undelivered``); a message still queued, withdrawn,
suppressed or rejected at submit never reached the phone, so it cannot be what they answer.
Agent and assistant messages of a campaign conversation carry its ``campaign_id`` too, so they
keep the conversation's attribution. Unattributed replies keep ``campaign_id`` None and the inbox
files them under the number's unsolicited settings.

The inbound hook (runs inside the transaction that stores the reply, before the inbox's hook):
1. attribution -> ``row["campaign_id"]`` and the recipient row's ``replied_at``;
2. keywords (STOP family, START/UNSTOP, HELP) -> :mod:`optout`;
3. stop-on-reply: the attributed campaign stops *for this contact only* (other campaigns to the
   same contact go on). START and HELP are requests to the gateway, not answers, so they do not
   stop the campaign.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from ..store.store import Tx
from . import optout, steps

REACHED = ("sending", "sent", "delivered", "undelivered")
log = logging.getLogger(__name__)


def attribute(db: sqlite3.Connection, contact_phone: str, number: str, before: float) -> int | None:
    """The campaign a reply from ``contact_phone`` to ``number`` at ``before`` answers, or None."""
    row = db.execute(
        f"""SELECT campaign_id FROM messages
            WHERE recipient = ? AND sender = ? AND campaign_id IS NOT NULL
              AND state IN ({','.join('?' * len(REACHED))}) AND created_at <= ?
            ORDER BY id DESC LIMIT 1""", (contact_phone, number, *REACHED, before)).fetchone()
    return row[0] if row else None


def on_inbound(tx: Tx, row: dict[str, Any]) -> None:
    """INBOUND_HOOKS callback. A boundary like ``steps.on_final``: if the campaign rules fail, the
    reply is still stored (unattributed, for a person to read) and the error logged, rather than
    refused to the link, which would redeliver it forever."""
    tx.db.execute("SAVEPOINT campaign_inbound")
    try:
        _on_inbound(tx, row)
    except Exception:
        tx.db.execute("ROLLBACK TO campaign_inbound")
        row["campaign_id"] = row["keyword"] = None
        log.exception("campaign rules failed for inbound %s from %s; stored unattributed", row["id"], row["sender"])
    tx.db.execute("RELEASE campaign_inbound")


def _on_inbound(tx: Tx, row: dict[str, Any]) -> None:
    phone, number = row["sender"], row["recipient"]
    cid = attribute(tx.db, phone, number, row["received_at"])
    row["campaign_id"] = cid
    contact = tx.db.execute("SELECT id FROM contacts WHERE phone = ?", (phone,)).fetchone()
    contact_id = contact["id"] if contact else None
    if cid is not None and contact_id is not None:
        tx.db.execute("UPDATE campaign_contacts SET replied_at = coalesce(replied_at, ?) WHERE campaign_id = ?"
                      " AND contact_id = ?", (row["received_at"], cid, contact_id))
    keyword = optout.handle(tx, row, contact_id)
    if cid is None or contact_id is None or keyword in optout.REQUESTS:
        return
    camp = tx.db.execute("SELECT stop_on_reply, office FROM campaigns WHERE id = ?", (cid,)).fetchone()
    if camp is not None and camp["stop_on_reply"]:
        if steps.stop_contact(tx, cid, contact_id, phone, "contact replied (stop on reply)"):
            tx.emit("campaign.contact_stopped", id=cid, contact_id=contact_id, phone=phone, reason="replied",
                    office=camp["office"])
