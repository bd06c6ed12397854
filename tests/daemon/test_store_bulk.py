"""The writer's set-wise runs (store/bulk.py) write exactly what the same ops one by one write.

Two stores get the same messages; then the same submit results and receipts, queued as one batch
in one store (runs merged into set-wise calls) and one op per batch in the other, in the order the
writer runs them (``_runs`` moves results ahead of receipts). Every table the ops touch must come
out identical: states, segments, receipts kept as unmatched, history, the event log and the
counters. And that reordering must not change where any message ends up.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatewayd.store import bulk
from gatewayd.store import messages as mq
from gatewayd.store.batches import runs as _runs
from gatewayd.store.store import Store, _Op

NOW = 1_800_000_000.0
TABLES = {
    "messages": "SELECT id, state, link, attempts, error_code, error_text, updated_at FROM messages ORDER BY id",
    "segments": "SELECT * FROM segments ORDER BY id",
    "receipts": "SELECT * FROM receipts ORDER BY id",
    "unmatched_ids": "SELECT * FROM unmatched_ids ORDER BY rowid",
    "message_history": "SELECT * FROM message_history ORDER BY rowid",
    "events": "SELECT cursor, type, data FROM events ORDER BY cursor",
    "counters": "SELECT * FROM counters ORDER BY name",
}


def _store(path) -> Store:
    s = Store(path, clock=lambda: NOW)
    s.open()
    return s


def _run(store: Store, ops: list[tuple], *, together: bool, arrival_order: bool = False) -> list:
    """Results in the order ``ops`` were queued. Apart: one op per transaction, in the writer's
    order (or as queued, with ``arrival_order``)."""
    batch = [_Op(fn, args) for fn, args in ops]
    if together:
        store._execute(batch)
    else:
        for op in batch if arrival_order else [op for run in _runs(batch) for op in run]:
            store._execute([op])
    for op in batch:
        assert op.error is None, op.error
    return [op.result for op in batch]


def _dump(store: Store) -> dict[str, list[tuple]]:
    return {name: [tuple(r) for r in store.db.execute(sql)] for name, sql in TABLES.items()}


def _setup(store: Store, texts: list[str], campaign: set[int]) -> list[mq.Claimed]:
    news = [mq.NewMessage(sender="+14155550100", recipient=f"+1415555{1000 + i:04d}", text=t,
                          campaign_id=7 if i in campaign else None) for i, t in enumerate(texts)]
    _run(store, [(mq.enqueue, (news,))], together=False)
    [claimed] = _run(store, [(mq.claim, ("+14155550100", 10_000))], together=False)
    return claimed


def _submits(claimed: list[mq.Claimed]) -> list[tuple]:
    ops = []
    for m in claimed:
        sent = [mq.SegResult(seg_id, m.id, "carrier", True, f"c{seg_id}", submitted_at=NOW - 1)
                for seg_id, _idx, _text in m.pending]
        ops.append((bulk.submitted, (m.id, "carrier", m.attempts, sent)))
    return ops


def _receipt(carrier_id: str, stat: str = "DELIVRD", *, alt: tuple[str, ...] = (), link: str = "carrier",
             recipient: str | None = None) -> tuple:
    return (bulk.record_receipt, (link, carrier_id, stat, "000" if stat == "DELIVRD" else "034", None, recipient,
                                  f"id:{carrier_id} stat:{stat}", alt))


def _both(tmp_path, texts, campaign, build, *, arrival_order: bool = False):
    """Run ``build(claimed)``'s ops both ways; return the two dumps and results."""
    dumps, results = [], []
    for together in (False, True):
        store = _store(tmp_path / f"{'together' if together else 'apart'}.db")
        try:
            ops = build(_setup(store, texts, campaign))
            results.append(_run(store, ops, together=together, arrival_order=arrival_order))
            dumps.append(_dump(store))
        finally:
            store.close()
    return dumps, results


LONG = "x" * 200   # two segments


def test_every_case_of_a_run_writes_what_one_by_one_writes(tmp_path):
    texts = ["one", "two", LONG, "campaign", "early", "five", "six", "seven"]

    def build(claimed):
        seg = {m.id: [s[0] for s in m.pending] for m in claimed}
        ids = [m.id for m in claimed]
        early = seg[ids[4]][0]
        return [
            _receipt(f"c{early}"),                    # before its submit result: kept unmatched
            _receipt("nobody-sent-this", "UNDELIV"),  # matches nothing, ever
            *_submits(claimed),                        # the early one is applied by its submit
            _receipt(f"c{seg[ids[0]][0]}"),                             # fast path
            _receipt(f"c{seg[ids[1]][0]}", "UNDELIV"),                  # fast path, undelivered
            _receipt(f"c{seg[ids[2]][0]}"),                             # multipart: one by one
            _receipt(f"c{seg[ids[2]][1]}"),
            _receipt(f"c{seg[ids[3]][0]}"),                             # campaign hooks: one by one
            _receipt(f"c{seg[ids[5]][0]}", "ENROUTE"),                  # intermediate
            _receipt(f"c{seg[ids[5]][0]}"),                             # then final, same segment
            _receipt(f"c{seg[ids[6]][0]}"),
            _receipt(f"c{seg[ids[6]][0]}"),                             # SMSC redelivery
            _receipt("no-such-form", alt=(f"c{seg[ids[7]][0]}",)),      # matched by an alternative id
        ]

    (apart, together), (res_apart, res_together) = _both(tmp_path, texts, {3}, build)
    assert together == apart
    assert res_together == res_apart
    states = [row[1] for row in together["messages"]]
    assert states == ["delivered", "undelivered", "delivered", "delivered", "delivered", "delivered",
                      "delivered", "delivered"]
    assert sum(1 for r in together["receipts"] if r[-1] is None) == 1   # only the unknown id is unmatched

    # Queued as they came, one by one (the early receipt waits unmatched for its result): the
    # writer's reordering reaches the same end for every message, segment and counter.
    (as_queued, _), _ = _both(tmp_path / "arrival", texts, {3}, build, arrival_order=True)
    for table in ("messages", "segments", "counters"):
        assert together[table] == as_queued[table], table


_CASE = st.tuples(st.integers(0, 5), st.sampled_from(["DELIVRD", "UNDELIV", "ENROUTE", "EXPIRED", "odd"]),
                  st.booleans())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(receipts=st.lists(_CASE, max_size=14), early=st.lists(_CASE, max_size=3),
       long_ones=st.sets(st.integers(0, 5)), campaign=st.sets(st.integers(0, 5)))
def test_any_mix_of_receipts_and_results_matches_one_by_one(tmp_path_factory, receipts, early, long_ones, campaign):
    tmp = tmp_path_factory.mktemp("mix")
    texts = [LONG if i in long_ones else f"message {i}" for i in range(6)]

    def build(claimed):
        segs = [s[0] for m in claimed for s in m.pending]

        def rc(case):
            i, stat, by_alt = case
            cid = f"c{segs[i % len(segs)]}"
            return _receipt("other", stat, alt=(cid,)) if by_alt else _receipt(cid, stat)

        return [*(rc(c) for c in early), *_submits(claimed), *(rc(c) for c in receipts)]

    (apart, together), (res_apart, res_together) = _both(tmp, texts, campaign, build)
    assert together == apart
    assert res_together == res_apart


def test_a_failing_op_in_a_run_fails_alone(tmp_path):
    """A run whose set-wise call fails is replayed one by one: only the bad op reports an error."""
    store = _store(tmp_path / "s.db")
    try:
        claimed = _setup(store, ["a", "b", "c"], set())
        ops = _submits(claimed)
        unbindable = mq.SegResult(claimed[1].pending[0][0], claimed[1].id, "carrier", True, "x")
        unbindable.carrier_id = object()    # sqlite3 cannot bind it: the statement raises
        bad = (bulk.submitted, (claimed[1].id, "carrier", 0, [unbindable]))
        batch = [_Op(fn, args) for fn, args in (ops[0], bad, ops[2])]
        store._execute(batch)
        assert batch[0].error is None and batch[2].error is None
        assert batch[1].error is not None
        states = [r[0] for r in store.db.execute("SELECT state FROM messages ORDER BY id")]
        assert states == ["sent", "sending", "sent"]
    finally:
        store.close()


def test_a_receipt_that_cannot_be_stored_is_refused_alone(tmp_path):
    """A burst of receipts is one op; if one of them cannot be written, the others still are and
    only that one reports an error (the SMSC gets ESME_RX_T_APPN for it and redelivers it)."""
    store = _store(tmp_path / "s.db")
    try:
        claimed = _setup(store, ["a", "b", "c"], set())
        _run(store, _submits(claimed), together=True)
        calls = [_receipt(f"c{m.pending[0][0]}")[1] for m in claimed]
        calls[1] = (*calls[1][:6], object(), calls[1][7])     # raw text sqlite3 cannot bind
        [errors] = _run(store, [(bulk.record_receipts, (calls,))], together=False)
        assert errors[0] is None and errors[2] is None and errors[1] is not None
        states = [r[0] for r in store.db.execute("SELECT state FROM messages ORDER BY id")]
        assert states == ["delivered", "sent", "delivered"]
        assert store.db.execute("SELECT count(*) FROM events WHERE type = 'receipt'").fetchone()[0] == 2
    finally:
        store.close()


def test_multi_row_statements_write_every_row_in_order_whatever_the_count(tmp_path):
    import sqlite3

    from gatewayd.store.batches import execute_rows, insert_rows

    db = sqlite3.connect(tmp_path / "rows.db")
    db.execute("CREATE TABLE t (n INTEGER, label TEXT)")
    for count in (0, 1, 2, 3, 127, 128, 129, 300, 1000):
        db.execute("DELETE FROM t")
        insert_rows(db, "INSERT INTO t(n, label) VALUES (?, ?)", [(i, f"r{i}") for i in range(count)])
        assert db.execute("SELECT n, label FROM t ORDER BY rowid").fetchall() == [(i, f"r{i}") for i in range(count)]
    execute_rows(db, "WITH v(n, label) AS (", 2, [(i, f"new{i}") for i in range(0, 1000, 3)],
                 ") UPDATE t SET label = v.label FROM v WHERE t.n = v.n")
    labels = dict(db.execute("SELECT n, label FROM t"))
    assert all(labels[i] == (f"new{i}" if i % 3 == 0 else f"r{i}") for i in range(1000))
    db.close()


def test_the_writer_moves_results_ahead_of_receipts_and_claims_but_never_across_other_ops():
    from gatewayd.sending.dispatcher import _claim

    def barrier(tx):      # any other op (an enqueue, a cancel...) keeps its place
        return None

    def op(fn, name):
        o = _Op(fn, ())
        o.result = name
        return o

    batch = [op(bulk.submitted, "s1"), op(bulk.record_receipts, "r1"), op(_claim, "c1"), op(bulk.submitted, "s2"),
             op(barrier, "x"), op(bulk.record_receipts, "r2"), op(bulk.submitted, "s3"), op(_claim, "c2"),
             op(bulk.record_receipts, "r3"), op(bulk.submitted, "s4")]
    runs = [[o.result for o in run] for run in _runs(batch)]
    assert runs == [["s1", "s2"], ["r1"], ["c1"], ["x"], ["s3", "s4"], ["r2", "r3"], ["c2"]]


def test_claims_commit_ahead_of_receipts_but_never_ahead_of_an_earlier_submit_result():
    """What a crash can leave "maybe sent" stays within the window only if no claim commits
    before a result queued ahead of it; receipts may wait for the next transaction."""
    from gatewayd.sending.dispatcher import _claim
    from gatewayd.store.batches import urgent_first

    def named(fn, name):
        o = _Op(fn, ())
        o.result = name
        return o

    batch = [named(bulk.record_receipts, "r1"), named(bulk.submitted, "s1"), named(_claim, "c1"),
             named(bulk.record_receipts, "r2"), named(bulk.submitted, "s2")]
    assert [[o.result for o in part] for part in urgent_first(batch)] == [["s1", "c1", "s2"], ["r1", "r2"]]
    no_claim = batch[:2] + batch[3:]
    assert [[o.result for o in part] for part in urgent_first(no_claim)] == [["r1", "s1", "r2", "s2"]]


def test_a_receipt_goes_to_the_id_it_names_before_another_reading_of_it(tmp_path):
    """msg_id_format = "auto": receipt "10" may also read as hex 0x10 = "16". With an SMSC that
    counts in decimal, segments "10" and "16" both await receipts; each receipt must land on its
    own message (the bench found 20 of 5,000 left ``sent``), on both paths alike."""
    from gatewayd.links.smpp.receipt import normalise_id

    def build(claimed):
        ops = []
        for m, cid, at in zip(claimed, ("10", "16"), (NOW - 2, NOW - 1)):   # "16" is the newer
            ops.append((bulk.submitted, (m.id, "carrier", m.attempts,
                                         [mq.SegResult(m.pending[0][0], m.id, "carrier", True, cid,
                                                       submitted_at=at)])))
        primary, alts = normalise_id("10")
        assert "16" in alts
        return [*ops, _receipt(primary, alt=alts)]

    (apart, together), _ = _both(tmp_path, ["ten", "sixteen"], set(), build)
    assert together == apart
    assert [row[1] for row in together["messages"]] == ["delivered", "sent"]
