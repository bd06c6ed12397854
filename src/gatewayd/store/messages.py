"""The send queue as sync operations over one transaction (run through ``Store.run``).

Rules that live here because they must hold in the database, not just in memory:
- per-recipient order: a message is claimable only when no earlier message from the same sender to
  the same recipient is still queued or sending (a message waiting on retry blocks later ones);
- TTL: a message whose expiry passed while queued becomes ``expired`` and is never claimed;
- one logical status per message, aggregated from its segments.

Receipts and carrier ids are in :mod:`.receipts`; crash recovery, the TTL sweep and operators'
cancel/retry/ignore in :mod:`.actions`.
"""

from __future__ import annotations

import random
import sqlite3
from typing import Any, Iterable

import msgspec

from ..models import MsgState, Priority
from ..sending import segments as seg_mod
from .batches import insert_rows
from .store import Tx


class NewMessage(msgspec.Struct, kw_only=True):
    sender: str
    recipient: str
    text: str
    priority: Priority = Priority.TRANSACTIONAL
    ttl_s: float | None = None
    key: str | None = None
    source: str = "api"
    created_by: str | None = None
    campaign_id: int | None = None
    contact_id: int | None = None
    conversation_id: int | None = None
    step: int | None = None
    state: MsgState = MsgState.QUEUED      # campaigns enqueue suppressed contacts as unreachable
    error_text: str | None = None
    not_before: float = 0.0


class Claimed(msgspec.Struct):
    """A message handed to the dispatcher, with the segments still to submit."""

    id: int
    sender: str
    recipient: str
    text: str
    encoding: str
    count: int
    ref: int
    expires_at: float | None
    attempts: int
    possible_duplicate: bool
    pending: list[tuple[int, int, str]]    # (segment_id, index, text)


_HISTORY_SQL = "INSERT INTO message_history(message_id, at, state, detail) VALUES (?, ?, ?, ?)"


def _history(tx: Tx, message_id: int, state: str, detail: str = "") -> None:
    tx.defer(_HISTORY_SQL, (message_id, tx.now, state, detail))


def _event(tx: Tx, row: sqlite3.Row | dict, state: str, **extra: Any) -> None:
    tx.emit(
        "message.state",
        id=row["id"], state=state, sender=row["sender"], recipient=row["recipient"],
        campaign_id=row["campaign_id"], **extra,
    )





def set_state(tx: Tx, message_id: int, state: MsgState | str, detail: str = "", **cols: Any) -> None:
    """Move one message to ``state`` with history and an event; extra columns updated too."""
    state = MsgState(state).value
    sets = "".join(f", {k} = ?" for k in cols)
    row = tx.db.execute(
        f"UPDATE messages SET state = ?, updated_at = ?{sets} WHERE id = ?"
        " RETURNING id, sender, recipient, campaign_id, error_code, error_text, link",
        (state, tx.now, *cols.values(), message_id),
    ).fetchone()
    _history(tx, message_id, state, detail)
    _event(tx, row, state, error_code=row["error_code"], error_text=row["error_text"], link=row["link"])
    if row["campaign_id"] is not None and state in _HOOKED:
        for hook in FINAL_HOOKS:
            hook(tx, message_id, MsgState(state))


#: Sync callbacks ``(tx, message_id, state)`` run inside the transaction when a *campaign* message
#: reaches a state campaigns care about (auto-unsubscribe counts failures, multi-step scripts
#: advance). Messages outside campaigns skip them: that is most of the traffic, and the hot path.
FINAL_HOOKS: list[Any] = []
_HOOKED = {s.value for s in (MsgState.SENT, MsgState.DELIVERED, MsgState.UNDELIVERED, MsgState.FAILED,
                             MsgState.EXPIRED, MsgState.UNREACHABLE, MsgState.IGNORED, MsgState.CANCELLED)}


_INSERT_MESSAGE = """INSERT INTO messages(id, key, sender, recipient, text, priority, state, encoding, segments,
  ref, created_at, updated_at, expires_at, not_before, source, created_by, campaign_id, contact_id, conversation_id,
  step, error_text) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"""


def enqueue(tx: Tx, items: Iterable[NewMessage]) -> list[tuple[int, bool]]:
    """Insert messages (and their segments). Returns (id, was_duplicate) per item: an idempotency
    key seen before returns the first message instead of creating another.

    Ids are assigned here (max + 1, as SQLite itself would: the writer is the only inserter) so
    that a batch goes in as multi-row INSERTs (:func:`insert_rows`) instead of two statements per
    message."""
    out = []
    db = tx.db
    next_id = db.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()[0] + 1
    rows: list[tuple] = []
    seg_rows: list[tuple] = []
    keys: dict[str, int] = {}
    final: list[tuple[int, MsgState]] = []
    for m in items:
        if m.key is not None:
            first = keys.get(m.key)
            if first is None:
                row = db.execute("SELECT id FROM messages WHERE key = ?", (m.key,)).fetchone()
                first = None if row is None else row[0]
            if first is not None:
                out.append((first, True))
                continue
        mid = next_id
        next_id += 1
        if m.key is not None:
            keys[m.key] = mid
        encoding = seg_mod.choose_encoding(m.text)
        parts = seg_mod.split(m.text, encoding)
        expires = tx.now + m.ttl_s if m.ttl_s else None
        state = m.state.value
        rows.append((mid, m.key, m.sender, m.recipient, m.text, int(m.priority), state, encoding.value,
                     len(parts), random.randrange(0, 256), tx.now, tx.now, expires, m.not_before, m.source,
                     m.created_by, m.campaign_id, m.contact_id, m.conversation_id, m.step, m.error_text))
        seg_rows.extend((mid, i, part, state) for i, part in enumerate(parts, 1))
        _history(tx, mid, state, m.error_text or "")
        tx.emit("message.state", id=mid, state=state, sender=m.sender, recipient=m.recipient,
                campaign_id=m.campaign_id, segments=len(parts))
        if m.state is not MsgState.QUEUED and m.campaign_id is not None:
            final.append((mid, m.state))
        out.append((mid, False))
    if rows:
        insert_rows(db, _INSERT_MESSAGE, rows)
        insert_rows(db, "INSERT INTO segments(message_id, idx, text, state) VALUES (?, ?, ?, ?)", seg_rows)
    for mid, state in final:
        for hook in FINAL_HOOKS:
            hook(tx, mid, state)
    return out


_CLAIM_SQL = """
SELECT m.id, m.sender, m.recipient, m.text, m.encoding, m.segments, m.ref, m.expires_at, m.attempts,
       m.possible_duplicate, m.campaign_id
FROM messages m
WHERE m.state = 'queued' AND m.sender = ? AND m.not_before <= ? AND m.priority >= ?
  AND NOT EXISTS (SELECT 1 FROM messages p
                  WHERE p.sender = m.sender AND p.recipient = m.recipient AND p.id < m.id
                    AND p.state IN ('queued', 'sending'))
ORDER BY m.priority DESC, m.id
LIMIT ?
"""


def claim(tx: Tx, sender: str, max_segments: int, scan: int | None = None, min_priority: int = 0) -> list[Claimed]:
    """Mark up to ``max_segments`` worth of ready messages from ``sender`` as sending, highest
    priority first, set-wise (this runs for every message we send). Expired ones met on the way
    are expired instead of sent. ``min_priority``: only these (a number whose daily cap is spent
    still sends STOP/HELP confirmations)."""
    # Every row the query returns is claimable (or expired), and each needs at least one segment
    # of budget: reading further than the budget plus a little slack is wasted work.
    limit = scan or max_segments + 16
    live: list[sqlite3.Row] = []
    while not live:
        rows = tx.db.execute(_CLAIM_SQL, (sender, tx.now, int(min_priority), limit)).fetchall()
        for row in rows:
            if row["expires_at"] is not None and row["expires_at"] <= tx.now:
                expire(tx, row["id"])
            else:
                live.append(row)
        if len(rows) < limit:
            break   # nothing further: a full page of expired ones means look again
    if not live:
        return []
    qs = ",".join("?" * len(live))
    pending: dict[int, list[tuple[int, int, str]]] = {}
    for seg in tx.db.execute(
        f"SELECT message_id, id, idx, text FROM segments WHERE message_id IN ({qs})"
        " AND state IN ('queued', 'sending') ORDER BY message_id, idx", [r["id"] for r in live]):
        pending.setdefault(seg[0], []).append((seg[1], seg[2], seg[3]))
    out: list[Claimed] = []
    budget = max_segments
    for row in live:
        segs = pending.get(row["id"], [])
        if out and len(segs) > budget:
            break
        out.append(Claimed(row["id"], row["sender"], row["recipient"], row["text"], row["encoding"],
                           row["segments"], row["ref"], row["expires_at"], row["attempts"],
                           bool(row["possible_duplicate"]), segs))
        budget -= len(segs)
        if budget <= 0:
            break
    ids = [c.id for c in out]
    qs = ",".join("?" * len(ids))
    tx.db.execute(f"UPDATE segments SET state = 'sending' WHERE message_id IN ({qs}) AND state = 'queued'", ids)
    for r in tx.db.execute(f"UPDATE messages SET state = 'sending', updated_at = ? WHERE id IN ({qs})"
                           " RETURNING id, sender, recipient, campaign_id", (tx.now, *ids)).fetchall():
        _history(tx, r["id"], "sending")
        _event(tx, r, "sending")
    return out


def expire(tx: Tx, message_id: int) -> None:
    tx.db.execute("UPDATE segments SET state = 'expired' WHERE message_id = ? AND state IN ('queued','sending')",
                  (message_id,))
    set_state(tx, message_id, MsgState.EXPIRED, "TTL passed while queued",
              error_code="expired", error_text="TTL passed while queued")


class SegResult(msgspec.Struct):
    """What the dispatcher learned about one segment."""

    segment_id: int
    message_id: int
    link: str
    ok: bool
    carrier_id: str | None = None
    error_code: str | None = None
    error_text: str | None = None
    transient: bool = False
    submitted_at: float = 0.0


def message_submitted(tx: Tx, message_id: int, link: str, attempts: int | None = None) -> None:
    """All pending segments were accepted: aggregate (receipts may already have come).

    ``attempts`` is the count before this submit when the caller knows it (the dispatcher's
    claim does): then the link, the count and the new state go in one UPDATE."""
    if attempts is None:
        attempts = _attempts(tx, message_id)
    aggregate(tx, message_id, f"accepted by {link}",
              cols={"link": link, "attempts": attempts + 1, "error_code": None, "error_text": None})


def segment_failed(tx: Tx, r: SegResult, *, retry_at: float | None, give_up: bool, duplicate_risk: bool) -> None:
    """A submit failed: retry later (the message goes back to queued, still blocking later
    messages to the same recipient) or fail the whole message with the reason."""
    if r.transient and not give_up:
        tx.db.execute("UPDATE segments SET state = 'queued', error_code = ?, error_text = ? WHERE id = ?",
                      (r.error_code, r.error_text, r.segment_id))
        tx.db.execute("UPDATE segments SET state = 'queued' WHERE message_id = ? AND state = 'sending'",
                      (r.message_id,))
        extra = {"possible_duplicate": 1} if duplicate_risk else {}
        set_state(tx, r.message_id, MsgState.QUEUED, f"retry: {r.error_code} {r.error_text or ''}".strip(),
                  not_before=retry_at or tx.now, attempts=_attempts(tx, r.message_id) + 1,
                  error_code=r.error_code, error_text=r.error_text, **extra)
        return
    tx.db.execute("UPDATE segments SET state = 'failed', error_code = ?, error_text = ?, link = ? WHERE id = ?",
                  (r.error_code, r.error_text, r.link, r.segment_id))
    tx.db.execute("UPDATE segments SET state = 'failed' WHERE message_id = ? AND state IN ('queued','sending')",
                  (r.message_id,))
    reason = r.error_text or r.error_code or "rejected"
    if give_up and r.transient:
        reason = f"gave up after retries: {reason}"
    set_state(tx, r.message_id, MsgState.FAILED, reason, error_code=r.error_code, error_text=reason, link=r.link)


def _attempts(tx: Tx, message_id: int) -> int:
    return tx.db.execute("SELECT attempts FROM messages WHERE id = ?", (message_id,)).fetchone()[0]


def release(tx: Tx, message_id: int, reason: str) -> None:
    """Give a claimed message back untouched (link went down before anything was submitted)."""
    tx.db.execute("UPDATE segments SET state = 'queued' WHERE message_id = ? AND state = 'sending'", (message_id,))
    set_state(tx, message_id, MsgState.QUEUED, reason)


def aggregate(tx: Tx, message_id: int, detail: str = "", cols: dict[str, Any] | None = None) -> str:
    """One logical status from the segments: delivered when all are, undelivered when any is.
    ``cols`` are written with it whether or not the state changes."""
    current, joined = tx.db.execute(
        "SELECT m.state, (SELECT group_concat(s.state) FROM segments s WHERE s.message_id = m.id)"
        " FROM messages m WHERE m.id = ?", (message_id,)).fetchone()
    new = _aggregate_state(joined.split(",") if joined else [])
    if new is None or new == current:
        if cols:
            sets = ", ".join(f"{k} = ?" for k in cols)
            tx.db.execute(f"UPDATE messages SET {sets} WHERE id = ?", (*cols.values(), message_id))
        return current
    extra: dict[str, Any] = dict(cols or {})
    if new == MsgState.UNDELIVERED.value:
        row = tx.db.execute(
            "SELECT receipt_stat, error_code FROM segments WHERE message_id = ? AND state = 'undelivered'"
            " LIMIT 1", (message_id,)).fetchone()
        extra.update(error_code=row["error_code"], error_text=f"receipt {row['receipt_stat']}")
    set_state(tx, message_id, new, detail, **extra)
    return new


def _aggregate_state(states: list[str]) -> str | None:
    if "failed" in states:
        return MsgState.FAILED.value
    if "undelivered" in states:
        return MsgState.UNDELIVERED.value
    if states and all(s == "delivered" for s in states):
        return MsgState.DELIVERED.value
    if states and all(s in ("sent", "delivered") for s in states):
        return MsgState.SENT.value
    return None
