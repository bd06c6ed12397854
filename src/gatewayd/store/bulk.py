"""Set-wise forms of the two ops every sent message goes through: its submit result and its receipt.

Under load the writer finds runs of these ops queued back to back; :meth:`Store._run_many` hands a
run to ``fn.many`` as one call. The common case (a one-segment message outside any campaign, in
the state the op expects) is then a few multi-row statements for the whole run (UPDATE ... FROM a
VALUES list, :func:`execute_rows`) instead of half a dozen statements per message, with the same
rows, history and events. Anything else in the run (multipart, campaign hooks, early or unmatched
receipts, a segment the run already touched) goes through the ordinary one-message code at its
place in the order, so the result is exactly what running the ops one by one would have written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..models import ReceiptStat, UNDELIVERED_STATS
from . import messages as mq
from . import receipts
from .batches import RECEIPT_RANK, RESULT_RANK, execute_rows
from .store import Tx

log = logging.getLogger(__name__)

CHUNK = 500     # ids per IN (...) list


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), CHUNK):
        yield items[i:i + CHUNK]


class _Writes:
    """Rows for the fast path, written a chunk per statement (:func:`execute_rows`) before any
    one-by-one op runs."""

    def __init__(self, tx: Tx, statements: dict[str, tuple[str, int, str]]) -> None:
        self.tx = tx
        self.statements = statements
        self.rows: dict[str, list[tuple]] = {name: [] for name in statements}

    def add(self, name: str, row: tuple) -> None:
        self.rows[name].append(row)

    def flush(self) -> None:
        for name, rows in self.rows.items():
            if rows:
                head, width, tail = self.statements[name]
                execute_rows(self.tx.db, head, width, rows, tail)
                rows.clear()


# ---- submit results -----------------------------------------------------------------------------

def submitted(tx: Tx, message_id: int, link: str, attempts: int, sent: list[mq.SegResult],
              then: Callable[[], None] | None = None) -> None:
    """Every pending segment of a claimed message was accepted by ``link``; ``then`` runs after the
    commit (the dispatcher's wake-up: the next message to that recipient is claimable now)."""
    for r in sent:
        receipts.segment_sent(tx, r)
    mq.message_submitted(tx, message_id, link, attempts)
    if then is not None:
        tx.after_commit(then)


_SUBMITTED = {
    "segments": ("WITH v(carrier_id, link, submitted_at, id) AS (", 4,
                 ") UPDATE segments SET state = 'sent', carrier_id = v.carrier_id, link = v.link,"
                 " submitted_at = v.submitted_at, error_code = NULL, error_text = NULL FROM v WHERE segments.id = v.id"),
    "messages": ("WITH v(updated_at, link, attempts, id) AS (", 4,
                 ") UPDATE messages SET state = 'sent', updated_at = v.updated_at, link = v.link,"
                 " attempts = v.attempts, error_code = NULL, error_text = NULL FROM v WHERE messages.id = v.id"),
}


def _submitted_many(tx: Tx, calls: list[tuple]) -> list[None]:
    db = tx.db
    info: dict[int, tuple] = {}
    for chunk in _chunks([c[0] for c in calls]):
        for row in db.execute(f"SELECT id, state, segments, campaign_id, sender, recipient FROM messages"
                              f" WHERE id IN ({','.join('?' * len(chunk))})", chunk):
            info[row[0]] = tuple(row)
    early: set[str] = set()
    if db.execute("SELECT EXISTS (SELECT 1 FROM unmatched_ids)").fetchone()[0]:
        ids = [r.carrier_id for c in calls for r in c[3] if r.carrier_id]
        for chunk in _chunks(ids):
            early.update(r[0] for r in db.execute(
                f"SELECT carrier_id FROM unmatched_ids WHERE carrier_id IN ({','.join('?' * len(chunk))})", chunk))
    writes = _Writes(tx, _SUBMITTED)
    seen: set[int] = set()
    wake: list[Callable[[], None]] = []
    for message_id, link, attempts, sent, *then in calls:
        row = info.get(message_id)
        if (row is None or message_id in seen or row[1] != "sending" or row[2] != 1 or len(sent) != 1
                or row[3] is not None or sent[0].carrier_id in early):
            writes.flush()
            submitted(tx, message_id, link, attempts, sent, *then)
            seen.add(message_id)
            continue
        seen.add(message_id)
        if then and then[0] is not None and then[0] not in wake:
            wake.append(then[0])
        r = sent[0]
        writes.add("segments", (r.carrier_id, r.link, r.submitted_at or tx.now, r.segment_id))
        writes.add("messages", (tx.now, link, attempts + 1, message_id))
        mq._history(tx, message_id, "sent", f"accepted by {link}")
        tx.emit("message.state", id=message_id, state="sent", sender=row[4], recipient=row[5], campaign_id=None,
                error_code=None, error_text=None, link=link)
    writes.flush()
    for fn in wake:
        tx.after_commit(fn)
    return [None] * len(calls)


submitted.many = _submitted_many  # type: ignore[attr-defined]


# ---- receipts -----------------------------------------------------------------------------------

def record_receipt(tx: Tx, link: str, carrier_id: str, stat: str, err: str | None, done_at: float | None,
                   recipient: str | None, raw: str, alt_ids: tuple[str, ...] = ()) -> int | None:
    """:func:`receipts.record_receipt`, batchable: the message id, or None if kept unmatched."""
    return receipts.record_receipt(tx, link, carrier_id, stat, err, done_at, recipient, raw, alt_ids)


_RECEIPT = {
    "receipts": ("INSERT INTO receipts(link, carrier_id, alt_ids, recipient, stat, err, done_at, received_at,"
                 " raw, segment_id)", 10, ""),
    "segments": ("WITH v(state, receipt_stat, done_at, error_code, id) AS (", 5,
                 ") UPDATE segments SET state = v.state, receipt_stat = v.receipt_stat, done_at = v.done_at,"
                 " error_code = v.error_code FROM v WHERE segments.id = v.id"),
    "messages": ("WITH v(state, updated_at, error_code, error_text, id) AS (", 5,
                 ") UPDATE messages SET state = v.state, updated_at = v.updated_at, error_code = v.error_code,"
                 " error_text = v.error_text FROM v WHERE messages.id = v.id"),
}

_MATCH_MANY = """SELECT s.carrier_id, s.id, s.link, s.submitted_at, s.message_id, s.idx, s.state, m.recipient,
       m.segments, m.state AS message_state, m.campaign_id, m.sender, m.error_code, m.error_text, m.link AS m_link
FROM segments s JOIN messages m ON m.id = s.message_id
WHERE s.carrier_id IN ({qs}) AND s.submitted_at >= ? ORDER BY s.submitted_at DESC"""


def _new_state(stat: str) -> str | None:
    try:
        rstat = ReceiptStat(stat)
    except ValueError:
        return None
    if rstat is ReceiptStat.DELIVRD:
        return "delivered"
    return "undelivered" if rstat in UNDELIVERED_STATS else None


def _record_receipts_many(tx: Tx, calls: list[tuple]) -> list[int | None]:
    db = tx.db
    ids = list(dict.fromkeys(i for c in calls for i in (c[1], *c[7])))
    by_id: dict[str, list[Any]] = {}
    for chunk in _chunks(ids):
        for row in db.execute(_MATCH_MANY.format(qs=",".join("?" * len(chunk))),
                              (*chunk, tx.now - receipts.MATCH_WINDOW_S)):
            by_id.setdefault(row[0], []).append(row)
    writes = _Writes(tx, _RECEIPT)
    touched: set[int] = set()
    out: list[int | None] = []
    for call in calls:
        link, carrier_id, stat, err, done_at, recipient, raw, alt_ids = call
        seg = receipts.choose([r for i in dict.fromkeys((carrier_id, *alt_ids)) for r in by_id.get(i, ())],
                              carrier_id, link, recipient)
        new = _new_state(stat)
        if (seg is None or new is None or seg["id"] in touched or seg["segments"] != 1
                or seg["campaign_id"] is not None or seg["state"] not in ("sent", "sending", "delivered", "undelivered")
                or seg["message_state"] not in ("sent", "delivered", "undelivered")):
            writes.flush()
            out.append(receipts.record_receipt(tx, *call))
            if seg is not None:
                touched.add(seg["id"])
            continue
        touched.add(seg["id"])
        message_id = seg["message_id"]
        code = err if new == "undelivered" else None
        writes.add("receipts", (link, carrier_id, "|".join(alt_ids), recipient, stat, err, done_at, tx.now, raw,
                                seg["id"]))
        writes.add("segments", (new, stat, done_at or tx.now, code, seg["id"]))
        latency = tx.now - seg["submitted_at"] if seg["submitted_at"] else None
        tx.emit("receipt", matched=True, message_id=message_id, segment=seg["idx"], stat=stat, err=err, link=link,
                carrier_id=carrier_id, latency_s=latency)
        if new != seg["message_state"]:
            if new == "undelivered":
                code, text = err, f"receipt {stat}"
            else:
                code, text = seg["error_code"], seg["error_text"]
            writes.add("messages", (new, tx.now, code, text, message_id))
            mq._history(tx, message_id, new, f"receipt {stat}")
            tx.emit("message.state", id=message_id, state=new, sender=seg["sender"], recipient=seg["recipient"],
                    campaign_id=None, error_code=code, error_text=text, link=seg["m_link"])
        out.append(message_id)
    writes.flush()
    return out


record_receipt.many = _record_receipts_many  # type: ignore[attr-defined]
# Ranks for Store._runs: results before receipts, both before claims, between other ops.
submitted.reorder = RESULT_RANK        # type: ignore[attr-defined]
record_receipt.reorder = RECEIPT_RANK  # type: ignore[attr-defined]


def record_receipts(tx: Tx, calls: list[tuple]) -> list[Exception | None]:
    """A burst of receipts (one read from an SMSC) as one op; per item None (stored) or the error
    that kept it out. If the set-wise pass fails, each goes alone, so one bad receipt is refused
    (and redelivered by the SMSC) without its neighbours."""
    db = tx.db
    mark = tx.mark()
    db.execute("SAVEPOINT receipts")
    try:
        _record_receipts_many(tx, calls)
        db.execute("RELEASE receipts")
        return [None] * len(calls)
    except Exception:
        db.execute("ROLLBACK TO receipts")
        db.execute("RELEASE receipts")
        tx.rewind(mark)
    out: list[Exception | None] = []
    for call in calls:
        mark = tx.mark()
        db.execute("SAVEPOINT receipt")
        try:
            receipts.record_receipt(tx, *call)
            db.execute("RELEASE receipt")
            out.append(None)
        except Exception as exc:
            db.execute("ROLLBACK TO receipt")
            db.execute("RELEASE receipt")
            tx.rewind(mark)
            log.exception("receipt %s on %s could not be stored", call[1], call[0])
            out.append(exc)
    return out


def _record_receipt_bursts(tx: Tx, bursts: list[tuple]) -> list[list[Exception | None]]:
    """A run of receipt bursts as one set-wise pass (raises: the writer retries burst by burst)."""
    _record_receipts_many(tx, [call for (calls,) in bursts for call in calls])
    return [[None] * len(calls) for (calls,) in bursts]


record_receipts.many = _record_receipt_bursts   # type: ignore[attr-defined]
record_receipts.reorder = RECEIPT_RANK          # type: ignore[attr-defined]
