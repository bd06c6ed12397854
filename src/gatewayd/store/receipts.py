"""Delivery receipts in the store: carrier ids kept with their segments, receipts matched to them.

A receipt matches a segment by its carrier id (any of the link's readings of it), preferring the
link it came on; a modem's receipt must also name the recipient, since TP-MR wraps at 256. One
that matches nothing is kept as unmatched, by every id it could be: a later submit result with
that id (the receipt overtook its submit_sm_resp) applies it then. A receipt moves its segment,
and the segments' aggregate moves the message.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from ..models import ReceiptStat, UNDELIVERED_STATS
from . import messages as mq
from .store import Tx


def segment_sent(tx: Tx, r: mq.SegResult) -> None:
    tx.db.execute(
        "UPDATE segments SET state = 'sent', carrier_id = ?, link = ?, submitted_at = ?, error_code = NULL,"
        " error_text = NULL WHERE id = ?",
        (r.carrier_id, r.link, r.submitted_at or tx.now, r.segment_id),
    )
    if r.carrier_id:
        # A receipt that overtook its submit_sm_resp is waiting unmatched: apply it now.
        early = tx.db.execute("SELECT DISTINCT receipt_id FROM unmatched_ids WHERE carrier_id = ?",
                              (r.carrier_id,)).fetchall()
        for (rid,) in early:
            rc = tx.db.execute("SELECT * FROM receipts WHERE id = ? AND segment_id IS NULL", (rid,)).fetchone()
            tx.db.execute("DELETE FROM unmatched_ids WHERE receipt_id = ?", (rid,))
            if rc is not None:
                _apply_receipt_to(tx, dict(rc), r.segment_id)


MATCH_WINDOW_S = 7 * 86400.0


def record_receipt(tx: Tx, link: str, carrier_id: str, stat: str, err: str | None, done_at: float | None,
                   recipient: str | None, raw: str, alt_ids: tuple[str, ...] = ()) -> int | None:
    """Store a receipt and apply it to its segment if one matches. Returns the message id or None
    (kept as unmatched: a later submit result with that id will claim it)."""
    seg = _match(tx, link, (carrier_id, *alt_ids), recipient)
    cur = tx.db.execute(
        "INSERT INTO receipts(link, carrier_id, alt_ids, recipient, stat, err, done_at, received_at, raw,"
        " segment_id) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (link, carrier_id, "|".join(alt_ids), recipient, stat, err, done_at, tx.now, raw,
         None if seg is None else seg["id"]),
    )
    if seg is None:
        tx.db.executemany("INSERT INTO unmatched_ids(carrier_id, receipt_id) VALUES (?, ?)",
                          [(i, cur.lastrowid) for i in dict.fromkeys((carrier_id, *alt_ids))])
        tx.emit("receipt", matched=False, link=link, carrier_id=carrier_id, stat=stat, err=err)
        return None
    rc = {"id": cur.lastrowid, "link": link, "carrier_id": carrier_id, "stat": stat, "err": err,
          "done_at": done_at}
    return _apply(tx, rc, seg)


_MATCH_SQL = """SELECT s.id, s.carrier_id, s.link, s.submitted_at, s.message_id, s.idx, s.state, m.recipient, m.segments,
       m.state AS message_state
FROM segments s JOIN messages m ON m.id = s.message_id
WHERE s.carrier_id IN ({qs}) AND s.submitted_at >= ? ORDER BY s.submitted_at DESC"""


def _match(tx: Tx, link: str, ids: tuple[str, ...], recipient: str | None) -> sqlite3.Row | None:
    rows = tx.db.execute(_MATCH_SQL.format(qs=",".join("?" * len(ids))),
                         (*ids, tx.now - MATCH_WINDOW_S)).fetchall()
    return choose(rows, ids[0], link, recipient)


_AWAITING = ("sending", "sent")


def choose(rows: list[Any], carrier_id: str, link: str, recipient: str | None) -> Any:
    """The segment a receipt belongs to, among those whose carrier id is the receipt's id or one
    of its alternative readings (``msg_id_format = "auto"``: "10" is also hex 0x10 = "16").

    Order of preference: the same link (else only an unambiguous single candidate); the id as
    the receipt wrote it over an alternative reading; a segment still awaiting its receipt over
    one that has had it; the newest. Without the first two, an SMSC counting ids in decimal had
    receipt "10" land on the newer segment "16" and message 10 never left ``sent``. Both the
    one-by-one path and the set-wise path (store/bulk.py) decide with this function."""
    if recipient is not None:   # modems: TP-MR wraps at 256, so the recipient must agree too
        rows = [r for r in rows if r["recipient"] == recipient]
    pool = [r for r in rows if r["link"] == link]
    if not pool:
        if len(rows) == 1:
            return rows[0]
        exact = [r for r in rows if r["carrier_id"] == carrier_id]
        return exact[0] if len(exact) == 1 else None
    return min(pool, key=lambda r: (r["carrier_id"] != carrier_id, r["state"] not in _AWAITING,
                                    -(r["submitted_at"] or 0)))


def _apply_receipt_to(tx: Tx, rc: dict[str, Any], segment_id: int) -> int:
    """A receipt kept as unmatched finds its segment (the submit result came after it)."""
    tx.db.execute("UPDATE receipts SET segment_id = ? WHERE id = ?", (segment_id, rc["id"]))
    seg = tx.db.execute(
        "SELECT s.id, s.submitted_at, s.message_id, s.idx, s.state, m.segments, m.state AS message_state"
        " FROM segments s JOIN messages m ON m.id = s.message_id WHERE s.id = ?", (segment_id,)).fetchone()
    return _apply(tx, rc, seg)


def _apply(tx: Tx, rc: dict[str, Any], seg: sqlite3.Row) -> int:
    stat = rc["stat"]
    try:
        rstat = ReceiptStat(stat)
    except ValueError:
        rstat = ReceiptStat.UNKNOWN
    if rstat is ReceiptStat.DELIVRD:
        new_state = "delivered"
    elif rstat in UNDELIVERED_STATS:
        new_state = "undelivered"
    else:
        new_state = None   # ENROUTE / ACCEPTD: intermediate, keep "sent"
    err = rc["err"] if new_state == "undelivered" else None
    if new_state and seg["state"] in ("sent", "sending", "delivered", "undelivered"):
        tx.db.execute(
            "UPDATE segments SET state = ?, receipt_stat = ?, done_at = ?, error_code = ? WHERE id = ?",
            (new_state, stat, rc["done_at"] or tx.now, err, seg["id"]),
        )
    else:
        new_state = None
        tx.db.execute("UPDATE segments SET receipt_stat = ? WHERE id = ?", (stat, seg["id"]))
    message_id = seg["message_id"]
    latency = tx.now - seg["submitted_at"] if seg["submitted_at"] else None
    tx.emit("receipt", matched=True, message_id=message_id, segment=seg["idx"], stat=stat,
            err=rc["err"], link=rc["link"], carrier_id=rc["carrier_id"], latency_s=latency)
    detail = f"receipt {stat}"
    if seg["segments"] == 1:
        # One segment: its state is the message's (as aggregate() would conclude, without asking).
        if new_state is not None and seg["message_state"] in ("sent", "delivered", "undelivered"):
            if new_state != seg["message_state"]:
                extra = {"error_code": err, "error_text": f"receipt {stat}"} if new_state == "undelivered" else {}
                mq.set_state(tx, message_id, new_state, detail, **extra)
            return message_id
    mq.aggregate(tx, message_id, detail)
    return message_id
