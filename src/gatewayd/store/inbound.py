"""Inbound (mobile-originated) messages: stored once, then handed to the domain hooks.

The hooks (campaign attribution, opt-out keywords, conversations, the assistant) run inside the
same transaction as the insert, so a reply is either fully processed or not stored at all, and the
link acknowledges it to the network only after that commit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..links.base import Inbound
from .store import Tx

#: ``hook(tx, row)`` where row is a dict of the inbound row; hooks may update it (campaign_id,
#: conversation_id, keyword) and enqueue replies. Registered by domain extensions at start-up.
INBOUND_HOOKS: list[Callable[[Tx, dict[str, Any]], None]] = []


def record(tx: Tx, msg: Inbound) -> int | None:
    """Store one inbound message. Returns its id, or None for an SMSC redelivery we already have."""
    if msg.dedup_key is not None:
        if tx.db.execute("SELECT 1 FROM inbound WHERE dedup_key = ?", (msg.dedup_key,)).fetchone():
            return None
    cur = tx.db.execute(
        "INSERT INTO inbound(link, sender, recipient, text, received_at, dedup_key) VALUES (?,?,?,?,?,?)",
        (msg.link, msg.sender, msg.recipient, msg.text, msg.received_at or tx.now, msg.dedup_key),
    )
    row: dict[str, Any] = {
        "id": cur.lastrowid, "link": msg.link, "sender": msg.sender, "recipient": msg.recipient,
        "text": msg.text, "received_at": msg.received_at or tx.now, "campaign_id": None,
        "conversation_id": None, "keyword": None,
    }
    for hook in INBOUND_HOOKS:
        hook(tx, row)
    tx.db.execute("UPDATE inbound SET campaign_id = ?, conversation_id = ?, keyword = ? WHERE id = ?",
                  (row["campaign_id"], row["conversation_id"], row["keyword"], row["id"]))
    tx.emit("inbound", **{k: row[k] for k in ("id", "link", "sender", "recipient", "text", "received_at",
                                              "campaign_id", "conversation_id", "keyword")})
    return row["id"]
