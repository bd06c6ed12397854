"""The suppression list: who must not be messaged by campaigns, at which scope, and why.

A row is one opt-out: ``scope`` = ``campaign`` (that campaign only: the seed's default for a STOP
reply), ``number`` (every campaign from that sender) or ``all``. Rows are kept, never flagged,
so the reason, source (``keyword``, ``operator``, ``auto``) and time stay visible; opting back
in deletes the rows it lifts and records an event instead.

Opting out also settles what is already in flight: the contact's recipient rows in the affected
campaigns become ``opted_out`` and their queued campaign messages become ``unreachable`` (SPEC §2:
not sent because the recipient is suppressed), so nothing more goes out after the STOP commits.

Every opt-out and opt-in also goes into the consent ledger (:mod:`gatewayd.store.consent`), a
repeated one too (it is evidence), with ``evidence`` saying where it came from. An opt-out that an
existing suppression already covers (STOP after STOPALL, a second STOP) adds no row and returns
False, so exactly one confirmation is sent.

Auto-unsubscribe (SPEC §4, seed 002): a phone whose campaign messages failed or were undelivered
in N different campaigns (``optout.auto_unsubscribe_campaigns``, 7) is suppressed with scope
``all`` and source ``auto``; an admin lifts it with :func:`opt_in`, which also forgets the
failure history so the rule does not fire again on the next failure.
"""

from __future__ import annotations

import sqlite3

from ..models import MsgState
from ..store import consent as ledger
from ..store import messages as mq
from ..store.store import Tx

SCOPES = ("campaign", "number", "all")

#: Matches a suppression row ``s`` against a recipient in campaign :cid sent from :num.
MATCH_SQL = ("(s.scope = 'all' OR (s.scope = 'number' AND s.number = :num)"
             " OR (s.scope = 'campaign' AND s.campaign_id = :cid))")


def _affected_campaigns(tx: Tx, scope: str, campaign_id: int | None, number: str | None) -> list[sqlite3.Row]:
    if scope == "campaign":
        return tx.db.execute("SELECT id, office FROM campaigns WHERE id = ?", (campaign_id,)).fetchall()
    if scope == "number":
        return tx.db.execute("SELECT id, office FROM campaigns WHERE number = ?", (number,)).fetchall()
    return tx.db.execute("SELECT id, office FROM campaigns").fetchall()


def _unreachable(tx: Tx, message_id: int, reason: str) -> None:
    tx.db.execute("UPDATE segments SET state = 'unreachable' WHERE message_id = ? AND state = 'queued'", (message_id,))
    mq.set_state(tx, message_id, MsgState.UNREACHABLE, reason, error_code="suppressed", error_text=reason)


#: An existing suppression ``s`` that already covers a new one of (:scope, :num, :cid).
_COVERS_SQL = ("(s.scope = 'all' OR (:scope = 'number' AND s.scope = 'number' AND s.number = :num)"
               " OR (:scope = 'campaign' AND ((s.scope = 'campaign' AND s.campaign_id = :cid)"
               " OR (s.scope = 'number' AND s.number = :num))))")


def _ledger(tx: Tx, phone: str, kind: str, source: str, scope: str, by: str | None, campaign_id: int | None,
            number: str | None, evidence: dict | None, note: str = "") -> None:
    ev = evidence or {}
    method = source if source in ("keyword", "operator", "auto", "import") else "operator"
    ledger.record(tx, phone, kind, method, scope, at=ev.get("at"), how=ev.get("how", ""), actor=by,
                  campaign_id=campaign_id,
                  number=number, inbound_id=ev.get("inbound_id"), evidence=ev.get("evidence", ""), note=note)


def opt_out(tx: Tx, phone: str, scope: str, campaign_id: int | None = None, number: str | None = None,
            reason: str = "", source: str = "operator", by: str | None = None, evidence: dict | None = None) -> bool:
    """Suppress ``phone``. Returns False when an opt-out covering this one already existed (so
    callers send one confirmation, not one per repeated STOP). ``evidence``: ``{"how",
    "inbound_id", "evidence"}`` for the consent ledger."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
    if scope == "campaign" and campaign_id is None:
        raise ValueError("a campaign-scoped opt-out needs a campaign")
    if scope == "number" and number is None:
        if campaign_id is None:
            raise ValueError("a number-scoped opt-out needs a number")
        row = tx.db.execute("SELECT number FROM campaigns WHERE id = ?", (campaign_id,)).fetchone()
        number = row["number"] if row else None
    if scope == "campaign" and number is None:
        row = tx.db.execute("SELECT number FROM campaigns WHERE id = ?", (campaign_id,)).fetchone()
        number = row["number"] if row else None
    exists = tx.db.execute(f"SELECT 1 FROM suppressions s WHERE s.phone = :phone AND {_COVERS_SQL}",
                           {"phone": phone, "scope": scope, "num": number, "cid": campaign_id}).fetchone()
    rec_cid = campaign_id if scope == "campaign" else None
    rec_num = number if scope != "all" else None
    if exists:
        _ledger(tx, phone, "opt_out", source, scope, by, rec_cid, rec_num, evidence,
                note="already opted out: no new suppression, no second confirmation")
        return False
    _ledger(tx, phone, "opt_out", source, scope, by, rec_cid, rec_num, evidence, note=reason)
    tx.db.execute(
        "INSERT INTO suppressions(phone, scope, campaign_id, number, reason, source, created_at, created_by)"
        " VALUES (?,?,?,?,?,?,?,?)", (phone, scope, campaign_id, number, reason, source, tx.now, by))
    affected = {r["id"]: r["office"] for r in _affected_campaigns(tx, scope, campaign_id, number)}
    office = affected.get(campaign_id) if campaign_id is not None else None
    contact = tx.db.execute("SELECT id FROM contacts WHERE phone = ?", (phone,)).fetchone()
    if contact is not None:
        for cid in [r[0] for r in tx.db.execute(
                "SELECT campaign_id FROM campaign_contacts WHERE contact_id = ? AND state = 'active'", (contact["id"],))]:
            if cid in affected:
                tx.db.execute("UPDATE campaign_contacts SET state = 'opted_out', next_at = NULL, updated_at = ?"
                              " WHERE campaign_id = ? AND contact_id = ?", (tx.now, cid, contact["id"]))
    for mid, cid in tx.db.execute("SELECT id, campaign_id FROM messages WHERE recipient = ? AND state = 'queued'"
                                  " AND campaign_id IS NOT NULL AND source IN ('campaign', 'assistant')",
                                  (phone,)).fetchall():
        if cid in affected:
            _unreachable(tx, mid, f"recipient opted out ({scope})")
    tx.emit("contact.opted_out", phone=phone, scope=scope, campaign_id=campaign_id, number=number,
            reason=reason, source=source, by=by, office=office)
    return True


def opt_in(tx: Tx, phone: str, number: str | None = None, campaign_id: int | None = None,
           source: str = "operator", by: str | None = None, evidence: dict | None = None) -> int:
    """Lift suppressions of ``phone``: all of them (an admin, or ``number`` None), or those that
    stop messages from ``number`` (a START sent to that number). Returns how many were lifted.
    It is an opt-in in the consent ledger at the same scope."""
    scope = "all" if number is None and campaign_id is None else ("campaign" if number is None else "number")
    _ledger(tx, phone, "opt_in", source, scope, by, campaign_id if scope == "campaign" else None,
            number if scope == "number" else None, evidence)
    if number is None and campaign_id is None:
        n = tx.db.execute("DELETE FROM suppressions WHERE phone = ?", (phone,)).rowcount
        tx.db.execute("DELETE FROM campaign_failures WHERE phone = ?", (phone,))
    elif campaign_id is not None and number is None:
        n = tx.db.execute("DELETE FROM suppressions WHERE phone = ? AND scope = 'campaign' AND campaign_id = ?",
                          (phone, campaign_id)).rowcount
    else:
        n = tx.db.execute(
            "DELETE FROM suppressions WHERE phone = ? AND (scope = 'all' OR number = ?"
            " OR campaign_id IN (SELECT id FROM campaigns WHERE number = ?))", (phone, number, number)).rowcount
    tx.emit("contact.opted_in", phone=phone, number=number, campaign_id=campaign_id, lifted=n, source=source, by=by)
    return n


def suppression_of(db: sqlite3.Connection, phone: str, campaign_id: int | None, number: str | None) -> str | None:
    """The reason ``phone`` must not get this campaign's messages, or None."""
    row = db.execute(f"SELECT s.scope, s.reason FROM suppressions s WHERE s.phone = :phone AND {MATCH_SQL} LIMIT 1",
                     {"phone": phone, "num": number, "cid": campaign_id}).fetchone()
    if row is None:
        return None
    return f"opted out ({row['scope']}){': ' + row['reason'] if row['reason'] else ''}"


def record_failure(tx: Tx, phone: str, campaign_id: int, threshold: int) -> bool:
    """Count a failed campaign for ``phone``; unsubscribe it at ``threshold`` different campaigns.
    Returns True when this failure triggered the automatic unsubscribe."""
    tx.db.execute("INSERT OR IGNORE INTO campaign_failures(phone, campaign_id, at) VALUES (?, ?, ?)",
                  (phone, campaign_id, tx.now))
    n = tx.db.execute("SELECT count(*) FROM campaign_failures WHERE phone = ?", (phone,)).fetchone()[0]
    if n < threshold:
        return False
    if tx.db.execute("SELECT 1 FROM suppressions WHERE phone = ? AND scope = 'all'", (phone,)).fetchone():
        return False
    return opt_out(tx, phone, "all", campaign_id=campaign_id,
                   reason=f"messages failed in {n} different campaigns", source="auto")


def list_suppressions(db: sqlite3.Connection, phone: str | None = None, limit: int = 100,
                      before_id: int | None = None) -> list[dict]:
    where, params = ["1=1"], []
    if phone:
        where.append("phone = ?")
        params.append(phone)
    if before_id:
        where.append("id < ?")
        params.append(before_id)
    rows = db.execute(f"SELECT * FROM suppressions WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?",
                      (*params, limit)).fetchall()
    return [dict(r) for r in rows]
