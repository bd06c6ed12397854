"""What happens to messages outside the send path: crash recovery at start, the TTL sweep, and
the operators' cancel, retry and ignore (disabled senders, ended campaigns and conversations).

Kept apart from :mod:`.messages`, whose functions run for every message sent; these run for the
few an operator or a rule touches, through the same single writer.
"""

from __future__ import annotations

from ..errors import Conflict, NotFound
from ..models import MsgState
from . import messages as mq
from .store import Tx


def expire_due(tx: Tx, limit: int = 1000) -> int:
    ids = [r[0] for r in tx.db.execute(
        "SELECT id FROM messages WHERE state = 'queued' AND expires_at IS NOT NULL AND expires_at <= ? LIMIT ?",
        (tx.now, limit))]
    for mid in ids:
        mq.expire(tx, mid)
    return len(ids)


def recover(tx: Tx, policy: str) -> dict[str, int]:
    """Resolve messages left in ``sending`` by a crash. Their submit may or may not have reached
    the carrier. ``resend`` (default): queue again, flagged possible duplicate; ``fail``: fail
    with the reason; ``assume_sent``: count them as sent (unconfirmed)."""
    counts = {"resent": 0, "failed": 0, "assumed_sent": 0}
    ids = [r[0] for r in tx.db.execute("SELECT id FROM messages WHERE state = 'sending'")]
    for mid in ids:
        if policy == "fail":
            tx.db.execute("UPDATE segments SET state = 'failed' WHERE message_id = ? AND state = 'sending'", (mid,))
            mq.set_state(tx, mid, MsgState.FAILED, "outcome unknown after restart", error_code="crash",
                      error_text="outcome unknown after restart (crash_policy=fail)", possible_duplicate=1)
            counts["failed"] += 1
        elif policy == "assume_sent":
            tx.db.execute("UPDATE segments SET state = 'sent' WHERE message_id = ? AND state = 'sending'", (mid,))
            tx.db.execute("UPDATE messages SET possible_duplicate = 1 WHERE id = ?", (mid,))
            mq.aggregate(tx, mid, "assumed sent after restart")
            counts["assumed_sent"] += 1
        else:
            tx.db.execute("UPDATE segments SET state = 'queued' WHERE message_id = ? AND state = 'sending'", (mid,))
            mq.set_state(tx, mid, MsgState.QUEUED, "requeued after restart: possible duplicate", possible_duplicate=1)
            counts["resent"] += 1
    if ids:
        tx.emit("queue.recovered", policy=policy, **counts)
    return counts


def cancel(tx: Tx, message_id: int, who: str) -> str:
    row = tx.db.execute("SELECT state FROM messages WHERE id = ?", (message_id,)).fetchone()
    if row is None:
        raise NotFound(f"no message {message_id}")
    if row["state"] != "queued":
        raise Conflict(f"message {message_id} is {row['state']}: only queued messages can be cancelled")
    tx.db.execute("UPDATE segments SET state = 'cancelled' WHERE message_id = ? AND state = 'queued'", (message_id,))
    mq.set_state(tx, message_id, MsgState.CANCELLED, f"cancelled by {who}")
    return MsgState.CANCELLED.value


RETRYABLE = {"failed", "expired", "undelivered", "cancelled", "ignored"}


def retry(tx: Tx, message_id: int, who: str, ttl_s: float) -> str:
    row = tx.db.execute("SELECT state FROM messages WHERE id = ?", (message_id,)).fetchone()
    if row is None:
        raise NotFound(f"no message {message_id}")
    if row["state"] not in RETRYABLE:
        raise Conflict(f"message {message_id} is {row['state']}: only {', '.join(sorted(RETRYABLE))} can be retried")
    tx.db.execute("UPDATE segments SET state = 'queued', carrier_id = NULL, error_code = NULL, error_text = NULL,"
                  " receipt_stat = NULL WHERE message_id = ?", (message_id,))
    mq.set_state(tx, message_id, MsgState.QUEUED, f"retry requested by {who}", not_before=0, attempts=0,
              expires_at=tx.now + ttl_s, error_code=None, error_text=None)
    return MsgState.QUEUED.value


def ignore_queued(tx: Tx, where: str, params: tuple, reason: str) -> int:
    """Mark queued messages matching ``where`` as ignored (sender/link/campaign disabled)."""
    ids = [r[0] for r in tx.db.execute(f"SELECT id FROM messages WHERE state = 'queued' AND {where}", params)]
    for mid in ids:
        tx.db.execute("UPDATE segments SET state = 'ignored' WHERE message_id = ? AND state = 'queued'", (mid,))
        mq.set_state(tx, mid, MsgState.IGNORED, reason, error_code="ignored", error_text=reason)
    return len(ids)


def hold_queued(tx: Tx, where: str, params: tuple, reason: str) -> int:
    """Hold queued messages matching ``where`` (a paused campaign): they stay ``queued``, keep their
    TTL and their place in the counts, but are not claimed until :func:`release_held`."""
    ids = [r[0] for r in tx.db.execute(
        f"SELECT id FROM messages WHERE state = 'queued' AND not_before < {mq.HELD} AND {where}", params)]
    _mark(tx, ids, mq.HELD, f"held: {reason}")
    return len(ids)


def release_held(tx: Tx, where: str, params: tuple, reason: str) -> int:
    """Put held messages back in line (claimable now, in their original order)."""
    ids = [r[0] for r in tx.db.execute(
        f"SELECT id FROM messages WHERE state = 'queued' AND not_before >= {mq.HELD} AND {where}", params)]
    _mark(tx, ids, 0.0, f"released: {reason}")
    return len(ids)


def _mark(tx: Tx, ids: list[int], not_before: float, detail: str) -> None:
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        tx.db.execute(f"UPDATE messages SET not_before = ?, updated_at = ? WHERE id IN ({','.join('?' * len(chunk))})",
                      (not_before, tx.now, *chunk))
    for mid in ids:
        mq._history(tx, mid, "queued", detail)
