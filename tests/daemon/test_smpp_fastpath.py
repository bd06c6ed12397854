"""The SMPP hot path: submits answered by callback, receipts committed and answered in bursts.

Against the fake SMSC on virtual time, plus the whole gateway on loopback TCP: what changes for an
operator is only speed, so these check that nothing else changed (results, timeouts, dropped
connections, acknowledgements after commit, per-recipient order under throttling).
"""

from __future__ import annotations

from functools import partial

import pytest
import trio

from gatewayd.links.smpp import codec
from gatewayd.models import LinkState
from support import AsyncClient, make_config, query, running, states, wait_until
from tests.fakes.smsc import Behaviour, FakeSmsc, cfg, running_link, seg

pytestmark = pytest.mark.trio
FROM = "+14155550100"


async def _until(predicate) -> None:
    while not predicate():
        await trio.sleep(0.01)


async def test_callback_submit_gets_its_result_and_its_receipt_matches(autojump_clock):
    async with running_link() as (smsc, link, sink):
        results = []
        assert link.submit_nowait(seg("Hi", to="+15551230001"), results.append)
        await _until(lambda: results and sink.receipts)
        [result] = results
        assert result.ok and result.carrier_id in (sink.receipts[0].carrier_id, *sink.receipts[0].alt_ids)
        assert smsc.submits[0].get("destination_addr") == "15551230001"


async def test_callback_submit_times_out_once_and_the_late_answer_is_ignored(autojump_clock):
    async with running_link(cfg(response_timeout_s=5.0), Behaviour(response_delay=8.0, dlr_delay=None)) as (
            smsc, link, sink):
        results, start = [], trio.current_time()
        link.submit_nowait(seg(), lambda r: results.append((r, trio.current_time() - start)))
        await _until(lambda: results)
        [(result, after)] = results
        assert (result.ok, result.transient, result.error_code) == (False, True, "timeout")
        assert after == pytest.approx(5.0)
        await trio.sleep(10)                         # the answer comes at 8 s: nobody is told twice
        assert len(results) == 1 and link.is_up


async def test_callback_submits_in_flight_fail_as_possible_duplicates_when_the_connection_drops(autojump_clock):
    async with running_link(behaviour=Behaviour(response_delay=5.0, dlr_delay=None)) as (smsc, link, sink):
        results = []
        for i in range(3):
            link.submit_nowait(seg(to=f"+1555000{i:04d}"), results.append)
        await smsc.wait_for(lambda: len(smsc.submits) == 3)
        await smsc.drop()
        await _until(lambda: len(results) == 3)
        assert all(r.error_code == "timeout" and r.transient and "connection lost" in r.error_text for r in results)
        await sink.wait_for(lambda: link.is_up)


async def test_the_link_keeps_its_window_and_its_backlog_never_reaches_the_wire_once_stopped(autojump_clock):
    async with running_link(cfg(window=4), Behaviour(response_delay=5.0, dlr_delay=None)) as (smsc, link, sink):
        results = []
        for i in range(7):
            link.submit_nowait(seg(to=f"+1555100{i:04d}"), results.append)
        await smsc.wait_for(lambda: len(smsc.submits) == 4)
        await trio.sleep(1)
        assert len(smsc.submits) == 4 and link.outstanding == 4 and results == []   # 3 wait in the backlog
        link.stop_submitting()
        assert [(r.ok, r.error_code) for r in results] == [(False, "link_down")] * 3    # never written
        await _until(lambda: len(results) == 7)                 # the 4 on the wire are still answered
        assert all(r.ok for r in results[3:]) and len(smsc.submits) == 4


async def test_callback_submit_while_not_bound_is_link_down():
    from gatewayd.links.smpp.link import SmppLink
    from tests.fakes.smsc import RecordingSink

    link = SmppLink(cfg(), RecordingSink(), connect=FakeSmsc().connect)
    results = []
    assert link.submit_nowait(seg(), results.append)
    assert [(r.ok, r.error_code) for r in results] == [(False, "link_down")]


async def test_a_burst_of_receipts_is_answered_after_its_commit_and_a_refused_one_is_redelivered(autojump_clock):
    async with running_link(behaviour=Behaviour(dlr_delay=1.0)) as (smsc, link, sink):
        sink.fail_receipts = 1                       # the first burst's commit fails
        results = []
        for i in range(5):
            link.submit_nowait(seg(to=f"+1555000{i:04d}"), results.append)
        await sink.wait_for(lambda: len(sink.receipts) == 5)
        await smsc.wait_for(lambda: sum(1 for s, _ in smsc.deliver_resps if s == codec.ROK) == 5)
        refused = [s for s, _ in smsc.deliver_resps if s != codec.ROK]
        assert refused and set(refused) == {codec.RX_T_APPN}      # redelivered, then accepted
        assert sorted(r.carrier_id for r in sink.receipts) == sorted(r.carrier_id for r in results)


async def test_throttled_smpp_link_keeps_per_recipient_order_through_the_gateway(tmp_path):
    """The whole daemon (callback submits, set-wise store ops) on loopback against an SMSC that
    throttles above 60/s: everything is delivered, the window is never exceeded, and each
    recipient's messages reached the SMSC in the order they were queued."""
    smsc = FakeSmsc(Behaviour(tps=60.0, dlr_delay=0.0, response_delay=0.05))   # answers held: a window fills
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            await nursery.start(smsc.run)
            port = await nursery.start(partial(smsc.serve_tcp, 0, host="127.0.0.1"))
            text = "\n".join(['[[links]]', 'name = "carrier"', 'kind = "smpp"', 'host = "127.0.0.1"',
                              f"port = {port}", 'system_id = "gw"', 'password = "pw"', "window = 20",
                              '[[numbers]]', f'address = "{FROM}"', 'links = ["carrier"]', "rate = 10000",
                              "burst = 500"])
            async with running(make_config(tmp_path, text=text)) as gw:
                c = await AsyncClient.connect(gw.socket_path)
                # 30 recipients (5 messages each, in order): up to 20 in flight, far above 60/s, so
                # the SMSC throttles however slow this machine is (7 recipients could stay under it).
                msgs = [{"from": FROM, "to": f"+1415555{1000 + i % 30}", "text": f"n{i:03d}"} for i in range(150)]
                await c.call("send_batch", messages=msgs)
                await wait_until(gw, lambda: states(gw).get("delivered") == 150, timeout=50)
                throttled = query(gw, "SELECT count(*) FROM events WHERE type = 'link.state'"
                                      " AND data LIKE '%throttled%'")[0][0]
                assert throttled >= 1
                assert gw.links["carrier"].status.state in (LinkState.UP, LinkState.THROTTLED)
            nursery.cancel_scope.cancel()
    assert 1 < smsc.max_unanswered <= 20      # the link's window held, with no task per submit
    accepted = [p for p in smsc.submits if p.get("short_message", b"")[:1] == b"n"]
    by_rcpt: dict[str, list[bytes]] = {}
    for p in accepted:
        by_rcpt.setdefault(p.get("destination_addr"), []).append(p.get("short_message"))
    assert sum(len(v) for v in by_rcpt.values()) >= 150
    for texts in by_rcpt.values():
        firsts = list(dict.fromkeys(texts))          # a throttled submit is sent again: keep first sight
        assert firsts == sorted(firsts)


async def test_link_and_number_pacing_hold_through_the_gateway_with_the_claim_ahead(tmp_path):
    """max_tps 25 on the link (number allows 40/s): the SMSC never sees more than the link's
    burst plus its rate over any stretch of time, claim-ahead (50 ms of the rate) included."""
    smsc = FakeSmsc(Behaviour(dlr_delay=0.0))
    n, tps = 60, 25.0
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            await nursery.start(smsc.run)
            port = await nursery.start(partial(smsc.serve_tcp, 0, host="127.0.0.1"))
            text = "\n".join(['[[links]]', 'name = "carrier"', 'kind = "smpp"', 'host = "127.0.0.1"',
                              f"port = {port}", 'system_id = "gw"', 'password = "pw"', "window = 20",
                              f"max_tps = {tps}", '[[numbers]]', f'address = "{FROM}"', 'links = ["carrier"]',
                              "rate = 40", "burst = 40"])
            async with running(make_config(tmp_path, text=text)) as gw:
                c = await AsyncClient.connect(gw.socket_path)
                await c.call("send_batch", messages=[{"from": FROM, "to": f"+1415555{1000 + i}", "text": f"p{i}"}
                                                     for i in range(n)])
                await wait_until(gw, lambda: states(gw).get("delivered") == n, timeout=30)
            nursery.cancel_scope.cancel()
    times = smsc.submit_times
    assert len(times) == n
    burst, ahead = int(tps), int(tps * 0.05)
    for i in range(n):
        for j in range(i, n):
            assert j - i + 1 <= burst + ahead + tps * (times[j] - times[i]) + 1, (i, j)
    assert times[-1] - times[0] >= (n - burst - ahead - 1) / tps * 0.9     # paced, not one burst
