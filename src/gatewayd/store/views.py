"""Read-side queries for the control socket (run on the reader connection)."""

from __future__ import annotations

import sqlite3

from .. import protocol as P
from ..models import Priority

_COLS = ("id, key, sender, recipient, text, state, priority, encoding, segments, created_at, updated_at,"
         " expires_at, attempts, link, error_code, error_text, possible_duplicate, campaign_id")


def _view(r: sqlite3.Row) -> P.MessageView:
    return P.MessageView(
        id=r["id"], key=r["key"], sender=r["sender"], recipient=r["recipient"], text=r["text"], state=r["state"],
        priority=Priority(r["priority"]).name.lower(), encoding=r["encoding"], segments=r["segments"],
        created_at=r["created_at"], updated_at=r["updated_at"], expires_at=r["expires_at"], attempts=r["attempts"],
        link=r["link"], error_code=r["error_code"], error_text=r["error_text"],
        possible_duplicate=bool(r["possible_duplicate"]), campaign_id=r["campaign_id"])


def status_counts(db: sqlite3.Connection, day: str) -> tuple[dict[str, int], dict[str, int]]:
    counts = {r[0]: r[1] for r in db.execute("SELECT name, value FROM counters")}
    usage = {r[0]: r[1] for r in db.execute("SELECT number, segments FROM daily_usage WHERE day = ?", (day,))}
    return counts, usage


def message_views(db: sqlite3.Connection, ids: list[int]) -> list[P.MessageView]:
    qs = ",".join("?" * len(ids))
    rows = db.execute(f"SELECT {_COLS} FROM messages WHERE id IN ({qs}) ORDER BY id", ids).fetchall()
    return [_view(r) for r in rows]


def message_detail(db: sqlite3.Connection, message_id: int) -> P.MessageDetail | None:
    row = db.execute(f"SELECT {_COLS} FROM messages WHERE id = ?", (message_id,)).fetchone()
    if row is None:
        return None
    segs = [P.SegmentView(r["idx"], r["state"], r["carrier_id"], r["link"], r["submitted_at"], r["done_at"],
                          r["receipt_stat"], r["error_code"], r["error_text"])
            for r in db.execute("SELECT * FROM segments WHERE message_id = ? ORDER BY idx", (message_id,))]
    hist = [P.HistoryEntry(r["at"], r["state"], r["detail"])
            for r in db.execute("SELECT at, state, detail FROM message_history WHERE message_id = ? ORDER BY rowid",
                                (message_id,))]
    return P.MessageDetail(_view(row), segs, hist)


def list_messages(db: sqlite3.Connection, req: P.ListMessages) -> P.MessagePage:
    where, args = [], []
    for col, val in (("state", req.state.value if req.state else None), ("sender", req.sender),
                     ("recipient", req.recipient), ("campaign_id", req.campaign_id)):
        if val is not None:
            where.append(f"{col} = ?")
            args.append(val)
    if req.since is not None:
        where.append("created_at >= ?")
        args.append(req.since)
    if req.until is not None:
        where.append("created_at < ?")
        args.append(req.until)
    if req.before_id is not None:
        where.append("id < ?")
        args.append(req.before_id)
    sql = f"SELECT {_COLS} FROM messages {'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY id DESC LIMIT ?"
    rows = db.execute(sql, (*args, req.limit + 1)).fetchall()
    items = [_view(r) for r in rows[: req.limit]]
    return P.MessagePage(items, items[-1].id if len(rows) > req.limit else None)


def receipts(db: sqlite3.Connection, unmatched: bool, limit: int) -> list[P.ReceiptView]:
    where = "WHERE segment_id IS NULL" if unmatched else ""
    rows = db.execute(f"SELECT * FROM receipts {where} ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
    return [P.ReceiptView(r["id"], r["link"], r["carrier_id"], r["stat"], r["err"], r["received_at"], r["raw"])
            for r in rows]


def audit(db: sqlite3.Connection, since: float | None, user: str | None, limit: int) -> list[P.AuditEntry]:
    where, args = [], []
    if since is not None:
        where.append("at >= ?")
        args.append(since)
    if user is not None:
        where.append("user = ?")
        args.append(user)
    sql = f"SELECT * FROM audit {'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY id DESC LIMIT ?"
    return [P.AuditEntry(r["id"], r["at"], r["user"], r["role"], r["op"], r["target"], bool(r["ok"]), r["error"])
            for r in db.execute(sql, (*args, limit))]
