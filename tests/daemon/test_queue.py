"""The send queue's rules, exercised on a real store (sync ops through the writer API)."""

from __future__ import annotations

import pytest

from gatewayd.models import MsgState, Priority
from gatewayd.store import actions, receipts
from gatewayd.store import messages as mq
from gatewayd.store.store import Store


@pytest.fixture
def store(tmp_path):
    clock = [1000.0]
    s = Store(tmp_path / "q.db", clock=lambda: clock[0])
    s.open()
    s.clock_cell = clock
    yield s
    s.close()


def new(to="+14155550123", text="hi", **kw):
    return mq.NewMessage(sender="+14155550100", recipient=to, text=text, **kw)


def state(store, mid):
    return store.db.execute("SELECT state FROM messages WHERE id = ?", (mid,)).fetchone()[0]


def test_idempotency_key_returns_first_message(store):
    [(a, dup_a)] = store.run_sync(mq.enqueue, [new(key="k1")])
    [(b, dup_b)] = store.run_sync(mq.enqueue, [new(key="k1", text="other")])
    assert dup_a is False
    assert dup_b is True and a == b
    assert store.db.execute("SELECT count(*) FROM messages").fetchone()[0] == 1


def test_segments_known_at_enqueue(store):
    [(mid, _)] = store.run_sync(mq.enqueue, [new(text="x" * 161)])
    row = store.db.execute("SELECT segments, encoding FROM messages WHERE id = ?", (mid,)).fetchone()
    assert tuple(row) == (2, "gsm7")
    [(mid2, _)] = store.run_sync(mq.enqueue, [new(text="Привет" * 12)])  # 72 UCS-2 units
    row = store.db.execute("SELECT segments, encoding FROM messages WHERE id = ?", (mid2,)).fetchone()
    assert tuple(row) == (2, "ucs2")


def test_priority_order_interactive_first(store):
    ids = [mid for mid, _ in store.run_sync(mq.enqueue, [
        new(to=f"+1415555{1000 + i}", priority=Priority.BULK) for i in range(5)])]
    [(reply, _)] = store.run_sync(mq.enqueue, [new(to="+14155552000", priority=Priority.INTERACTIVE)])
    claimed = store.run_sync(mq.claim, "+14155550100", 1)
    assert [c.id for c in claimed] == [reply]
    claimed = store.run_sync(mq.claim, "+14155550100", 2)
    assert [c.id for c in claimed] == ids[:2]


def test_per_recipient_order_is_kept(store):
    """A later message to the same recipient is not claimable while an earlier one is pending,
    even when the later one has higher priority."""
    [(first, _)] = store.run_sync(mq.enqueue, [new(priority=Priority.BULK)])
    [(second, _)] = store.run_sync(mq.enqueue, [new(priority=Priority.INTERACTIVE)])
    claimed = store.run_sync(mq.claim, "+14155550100", 10)
    assert [c.id for c in claimed] == [first]
    assert store.run_sync(mq.claim, "+14155550100", 10) == []   # first still sending
    # first fails transiently and waits for its retry: second must still wait behind it
    r = mq.SegResult(claimed[0].pending[0][0], first, "sim", False, None, "ESME_RSYSERR(0x08)", "system error",
                     transient=True)
    store.run_sync(lambda tx: mq.segment_failed(tx, r, retry_at=1060.0, give_up=False, duplicate_risk=False))
    assert state(store, first) == "queued"
    assert store.run_sync(mq.claim, "+14155550100", 10) == []
    store.clock_cell[0] = 1061.0
    assert [c.id for c in store.run_sync(mq.claim, "+14155550100", 10)] == [first]


def test_ttl_expired_message_is_never_claimed(store):
    [(mid, _)] = store.run_sync(mq.enqueue, [new(ttl_s=30)])
    store.clock_cell[0] += 31
    assert store.run_sync(mq.claim, "+14155550100", 10) == []
    assert state(store, mid) == "expired"


def test_expire_due_sweeps_without_claiming(store):
    ids = [m for m, _ in store.run_sync(mq.enqueue, [new(to=f"+1415555{2000 + i}", ttl_s=10) for i in range(3)])]
    store.clock_cell[0] += 11
    assert store.run_sync(actions.expire_due) == 3
    assert {state(store, m) for m in ids} == {"expired"}


def test_permanent_failure_carries_reason(store):
    [(mid, _)] = store.run_sync(mq.enqueue, [new()])
    [c] = store.run_sync(mq.claim, "+14155550100", 10)
    r = mq.SegResult(c.pending[0][0], mid, "sim", False, None, "ESME_RINVDSTADR(0x0B)", "invalid destination")
    store.run_sync(lambda tx: mq.segment_failed(tx, r, retry_at=None, give_up=False, duplicate_risk=False))
    row = store.db.execute("SELECT state, error_code, error_text FROM messages WHERE id = ?", (mid,)).fetchone()
    assert tuple(row) == ("failed", "ESME_RINVDSTADR(0x0B)", "invalid destination")


def _submit(store, c, ids):
    for (seg_id, _, _), cid in zip(c.pending, ids):
        store.run_sync(receipts.segment_sent, mq.SegResult(seg_id, c.id, "sim", True, cid))
    store.run_sync(mq.message_submitted, c.id, "sim")


def test_multipart_aggregates_delivered_only_when_all_are(store):
    [(mid, _)] = store.run_sync(mq.enqueue, [new(text="y" * 300)])
    [c] = store.run_sync(mq.claim, "+14155550100", 10)
    assert len(c.pending) == 2
    _submit(store, c, ["a1", "a2"])
    assert state(store, mid) == "sent"
    store.run_sync(receipts.record_receipt, "sim", "a1", "DELIVRD", "000", None, None, "")
    assert state(store, mid) == "sent"
    store.run_sync(receipts.record_receipt, "sim", "a2", "DELIVRD", "000", None, None, "")
    assert state(store, mid) == "delivered"


def test_multipart_undelivered_when_any_segment_is(store):
    [(mid, _)] = store.run_sync(mq.enqueue, [new(text="z" * 300)])
    [c] = store.run_sync(mq.claim, "+14155550100", 10)
    _submit(store, c, ["b1", "b2"])
    store.run_sync(receipts.record_receipt, "sim", "b1", "DELIVRD", "000", None, None, "")
    store.run_sync(receipts.record_receipt, "sim", "b2", "UNDELIV", "001", None, None, "")
    row = store.db.execute("SELECT state, error_text FROM messages WHERE id = ?", (mid,)).fetchone()
    assert row["state"] == "undelivered" and "UNDELIV" in row["error_text"]
    segs = store.db.execute("SELECT state FROM segments WHERE message_id = ? ORDER BY idx", (mid,)).fetchall()
    assert [s[0] for s in segs] == ["delivered", "undelivered"]


def test_receipt_before_submit_response_still_matches(store):
    [(mid, _)] = store.run_sync(mq.enqueue, [new()])
    [c] = store.run_sync(mq.claim, "+14155550100", 10)
    assert store.run_sync(receipts.record_receipt, "sim", "ff01", "DELIVRD", "000", None, None, "early") is None
    assert store.db.execute("SELECT value FROM counters WHERE name = 'unmatched'").fetchone()[0] == 1
    _submit(store, c, ["ff01"])
    assert state(store, mid) == "delivered"
    assert store.db.execute("SELECT value FROM counters WHERE name = 'unmatched'").fetchone()[0] == 0


def test_receipt_matches_alternative_id_form(store):
    [(mid, _)] = store.run_sync(mq.enqueue, [new()])
    [c] = store.run_sync(mq.claim, "+14155550100", 10)
    _submit(store, c, ["1f"])          # hex in submit_sm_resp
    store.run_sync(receipts.record_receipt, "sim", "31", "DELIVRD", "000", None, None, "", ("1f",))  # decimal receipt
    assert state(store, mid) == "delivered"


def test_unmatched_receipt_is_kept(store):
    assert store.run_sync(receipts.record_receipt, "sim", "nope", "DELIVRD", "000", None, None, "raw text") is None
    row = store.db.execute("SELECT carrier_id, raw, segment_id FROM receipts").fetchone()
    assert tuple(row) == ("nope", "raw text", None)


def test_modem_receipt_needs_matching_recipient(store):
    """TP-MR wraps at 256: the recipient disambiguates two messages with the same reference."""
    a = store.run_sync(mq.enqueue, [new(to="+14155550001")])[0][0]
    b = store.run_sync(mq.enqueue, [new(to="+14155550002")])[0][0]
    for c in store.run_sync(mq.claim, "+14155550100", 10):
        _submit(store, c, ["7"])
    store.run_sync(receipts.record_receipt, "modem0", "7", "DELIVRD", "0", None, "+14155550001", "")
    assert (state(store, a), state(store, b)) == ("delivered", "sent")


def test_crash_recovery_resend_flags_possible_duplicate(store):
    ids = [m for m, _ in store.run_sync(mq.enqueue, [new(to=f"+1415555{3000 + i}") for i in range(3)])]
    store.run_sync(mq.claim, "+14155550100", 2)          # two handed to a link, then "crash"
    counts = store.run_sync(actions.recover, "resend")
    assert counts["resent"] == 2
    rows = store.db.execute("SELECT id, state, possible_duplicate FROM messages ORDER BY id").fetchall()
    assert [tuple(r) for r in rows] == [(ids[0], "queued", 1), (ids[1], "queued", 1), (ids[2], "queued", 0)]


@pytest.mark.parametrize("policy,expected", [("fail", "failed"), ("assume_sent", "sent")])
def test_crash_recovery_other_policies(store, policy, expected):
    [(mid, _)] = store.run_sync(mq.enqueue, [new()])
    store.run_sync(mq.claim, "+14155550100", 1)
    store.run_sync(actions.recover, policy)
    assert state(store, mid) == expected


def test_cancel_and_retry(store):
    [(mid, _)] = store.run_sync(mq.enqueue, [new()])
    assert store.run_sync(actions.cancel, mid, "alice") == "cancelled"
    with pytest.raises(Exception, match="only queued"):
        store.run_sync(actions.cancel, mid, "alice")
    assert store.run_sync(actions.retry, mid, "alice", 3600) == "queued"
    assert [c.id for c in store.run_sync(mq.claim, "+14155550100", 1)] == [mid]


def test_state_counters_follow_transitions(store):
    store.run_sync(mq.enqueue, [new(to=f"+1415555{4000 + i}") for i in range(4)])
    store.run_sync(mq.claim, "+14155550100", 1)
    counts = {r[0]: r[1] for r in store.db.execute("SELECT name, value FROM counters WHERE name LIKE 'msg:%'")}
    assert counts["msg:queued"] == 3 and counts["msg:sending"] == 1


def test_failed_op_is_isolated_in_its_batch(store):
    """One op raising inside a group commit does not undo the others."""
    from gatewayd.store.store import _Op

    good = _Op(mq.enqueue, ([new(to="+14155555001")],))
    bad = _Op(actions.cancel, (999, "x"))
    store._execute([good, bad])
    assert good.error is None and bad.error is not None
    assert store.db.execute("SELECT count(*) FROM messages").fetchone()[0] == 1


def test_states_match_spec():
    assert {s.value for s in MsgState} >= {"queued", "sending", "sent", "delivered", "undelivered", "failed",
                                           "expired", "unreachable", "ignored"}
