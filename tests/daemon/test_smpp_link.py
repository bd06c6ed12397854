"""SmppLink against the fake SMSC (memory streams, virtual time): what an operator would notice."""

from __future__ import annotations

import pytest
import trio

from gatewayd.links.smpp import codec
from gatewayd.links.smpp.link import SmppLink
from gatewayd.links.smpp.receipt import normalise_id
from gatewayd.links.smpp.session import lane_of
from gatewayd.models import Encoding, LinkState
from tests.fakes.smsc import Behaviour, FakeSmsc, RecordingSink, cfg, running_link, seg

pytestmark = pytest.mark.trio


def matches(receipt, carrier_id: str) -> bool:
    return carrier_id in (receipt.carrier_id, *receipt.alt_ids)


async def test_submit_is_accepted_and_its_receipt_matches(autojump_clock):
    async with running_link() as (smsc, link, sink):
        assert sink.states[-1] is LinkState.UP
        result = await link.submit(seg("Hello there", to="+15551230001"))
        assert result.ok and result.carrier_id
        await sink.wait_for(lambda: sink.receipts)
        r = sink.receipts[0]
        assert matches(r, result.carrier_id) and r.stat == "DELIVRD" and r.link == "carrier"
        sent = smsc.submits[0]
        assert sent.get("destination_addr") == "15551230001" and sent.get("dest_addr_ton") == 1
        assert sent.get("registered_delivery") == 1 and sent.get("short_message") == b"Hello there"
        await smsc.wait_for(lambda: smsc.deliver_resps)
        assert smsc.deliver_resps == [(codec.ROK, smsc.deliver_resps[0][1])]


@pytest.mark.parametrize("resp_ids,dlr_ids", [("hex", "dec"), ("dec", "hex"), ("hex", "hex"), ("dec", "dec")])
async def test_receipt_ids_in_either_base_match_with_auto(autojump_clock, resp_ids, dlr_ids):
    b = Behaviour(resp_ids=resp_ids, dlr_ids=dlr_ids, dlr_tlvs=False)   # the text id only
    async with running_link(behaviour=b) as (smsc, link, sink):
        results = [await link.submit(seg(to=f"+1555123000{i}")) for i in range(3)]
        await sink.wait_for(lambda: len(sink.receipts) == 3)
        for result, receipt in zip(results, sink.receipts):
            assert matches(receipt, result.carrier_id)
        other = [r for r in sink.receipts if matches(r, results[0].carrier_id)]
        assert len(other) == 1   # the alternatives do not make receipts ambiguous here


async def test_receipt_arriving_before_the_submit_response_carries_the_same_id(autojump_clock):
    b = Behaviour(receipts_first=True, response_delay=1.0, resp_ids="hex", dlr_ids="dec")
    async with running_link(behaviour=b) as (smsc, link, sink):
        result = await link.submit(seg())
        assert result.ok
        assert len(sink.receipts) == 1           # committed while we were still waiting
        assert matches(sink.receipts[0], result.carrier_id)


async def test_out_of_order_responses_go_to_the_right_submit(autojump_clock):
    b = Behaviour(reorder=3.0, dlr_delay=None)
    async with running_link(cfg(window=10), b) as (smsc, link, sink):
        results: dict[str, object] = {}

        async def one(i: int) -> None:
            results[f"+1555000{i:04d}"] = await link.submit(seg(to=f"+1555000{i:04d}"))

        async with trio.open_nursery() as nursery:
            for i in range(10):
                nursery.start_soon(one, i)
        for to, result in results.items():
            assert result.ok and result.carrier_id == normalise_id(smsc.ids_by_dest[to.lstrip("+")])[0]
        assert len({r.carrier_id for r in results.values()}) == 10


async def test_window_bounds_outstanding_submits(autojump_clock):
    b = Behaviour(response_delay=2.0, dlr_delay=None)
    async with running_link(cfg(window=3), b) as (smsc, link, sink):
        async with trio.open_nursery() as nursery:
            for i in range(10):
                nursery.start_soon(link.submit, seg(to=f"+1555000{i:04d}"))
        assert len(smsc.submits) == 10 and smsc.max_unanswered == 3


async def test_throttling_is_reported_and_clears(autojump_clock):
    b = Behaviour(tps=2.0, dlr_delay=None)
    async with running_link(behaviour=b) as (smsc, link, sink):
        results = [await link.submit(seg(to=f"+1555000{i:04d}")) for i in range(5)]
        throttled = [r for r in results if not r.ok]
        assert throttled and all(r.transient and r.throttle for r in throttled)
        assert throttled[0].error_code == "ESME_RTHROTTLED(0x00000058)"
        assert sink.states[-1] is LinkState.THROTTLED
        await trio.sleep(10)
        assert (await link.submit(seg())).ok
        assert sink.states[-1] is LinkState.UP


@pytest.mark.parametrize("status,transient", [
    (codec.RINVDSTADR, False), (codec.RINVMSGLEN, False), (codec.RSUBMITFAIL, False),
    (codec.RSYSERR, True), (codec.RMSGQFUL, True), (codec.RX_T_APPN, True),
])
async def test_submit_errors_are_named_and_classified(autojump_clock, status, transient):
    b = Behaviour(reject={"+1555666": status})
    async with running_link(behaviour=b) as (smsc, link, sink):
        result = await link.submit(seg(to="+15556660000"))
        assert not result.ok and result.transient is transient and result.carrier_id is None
        assert result.error_code == codec.status_name(status) and f"0x{status:08X}" in result.error_code
        assert result.error_text == codec.status_text(status)
        assert result.throttle is (status == codec.RMSGQFUL)


async def test_invalid_destination_reads_like_a_human_reason(autojump_clock):
    async with running_link(behaviour=Behaviour(reject={"+1555666": codec.RINVDSTADR})) as (smsc, link, sink):
        result = await link.submit(seg(to="+15556660000"))
        assert (result.error_code, result.error_text) == ("ESME_RINVDSTADR(0x0000000B)", "Invalid Destination Address")


async def test_response_timeout_is_transient_timeout(autojump_clock):
    async with running_link(cfg(response_timeout_s=5.0), Behaviour(response_delay=8.0)) as (smsc, link, sink):
        start = trio.current_time()
        result = await link.submit(seg())
        assert not result.ok and result.transient and result.error_code == "timeout"
        assert trio.current_time() - start == pytest.approx(5.0)
        assert link.is_up                  # a late answer is not a dead link


async def test_submit_while_not_bound_is_link_down():
    link = SmppLink(cfg(), RecordingSink(), connect=FakeSmsc().connect)
    result = await link.submit(seg())
    assert (result.ok, result.transient, result.error_code) == (False, True, "link_down")


async def test_dropped_connection_goes_down_fails_in_flight_and_reconnects(autojump_clock):
    b = Behaviour(response_delay=5.0, dlr_delay=None)
    async with running_link(behaviour=b) as (smsc, link, sink):
        async with trio.open_nursery() as nursery:
            results = []

            async def submit() -> None:
                results.append(await link.submit(seg()))

            nursery.start_soon(submit)
            await smsc.wait_for(lambda: smsc.submits)
            await smsc.drop()
        assert results[0].error_code == "timeout" and results[0].transient   # may have reached the SMSC
        await sink.wait_for(lambda: LinkState.DOWN in sink.states)
        down = [s for s in sink.statuses if s.state is LinkState.DOWN]
        assert down and down[0].reason == "connection closed by the SMSC", sink.statuses
        await sink.wait_for(lambda: link.is_up)
        assert len(smsc.binds) == 2 and sink.states[-1] is LinkState.UP


async def test_stalled_smsc_is_detected_by_enquire_link(autojump_clock):
    async with running_link(cfg(enquire_link_s=30, response_timeout_s=10)) as (smsc, link, sink):
        smsc.b.stall = True
        start = trio.current_time()
        await sink.wait_for(lambda: sink.states[-1] is LinkState.DOWN)
        assert "stalled" in sink.statuses[-1].reason
        assert trio.current_time() - start == pytest.approx(40)
        smsc.b.stall = False
        await sink.wait_for(lambda: link.is_up)


async def test_idle_link_sends_enquire_link_on_schedule(autojump_clock):
    async with running_link(cfg(enquire_link_s=30)) as (smsc, link, sink):
        await trio.sleep(95)
        assert smsc.enquire_links == 3 and link.is_up


@pytest.mark.parametrize("status", [codec.RINVPASWD, codec.RALYBND, codec.RBINDFAIL])
async def test_refused_binds_back_off_exponentially(autojump_clock, status):
    b = Behaviour(bind_status=status)
    async with running_link(cfg(reconnect_min_s=1, reconnect_max_s=16), b, wait_up=False) as (smsc, link, sink):
        await smsc.wait_for(lambda: len(smsc.bind_times) >= 7)
        gaps = [b - a for a, b in zip(smsc.bind_times, smsc.bind_times[1:])]
        bounds = [1, 2, 4, 8, 16, 16]
        for gap, cap in zip(gaps, bounds):
            assert cap / 2 <= gap <= cap + 0.01    # jitter within [d/2, d]
        assert any(s.state is LinkState.DOWN and s.reason.startswith(f"bind refused: {codec.status_name(status)}")
                   for s in sink.statuses)
        assert not link.is_up and (await link.submit(seg())).error_code == "link_down"
        smsc.b.bind_status = codec.ROK
        await sink.wait_for(lambda: link.is_up)


async def test_smsc_unbind_is_answered_and_the_link_rebinds(autojump_clock):
    async with running_link() as (smsc, link, sink):
        await smsc.unbind()
        await sink.wait_for(lambda: sink.states[-1] is LinkState.DOWN)
        assert "unbound by the SMSC" in sink.statuses[-1].reason
        assert any(p.command == "unbind_resp" for p in smsc.received)
        await sink.wait_for(lambda: link.is_up)
        assert len(smsc.binds) == 2


async def test_smsc_enquire_link_is_answered(autojump_clock):
    async with running_link() as (smsc, link, sink):
        await smsc.send_raw(codec.empty("enquire_link", 4242))
        await smsc.wait_for(lambda: any(p.command == "enquire_link_resp" and p.sequence == 4242
                                        for p in smsc.received))
        [resp] = [p for p in smsc.received if p.command == "enquire_link_resp" and p.sequence == 4242]
        assert resp.status == codec.ROK and link.is_up


async def test_garbage_pdu_gets_generic_nack_and_link_stays_up(autojump_clock):
    async with running_link() as (smsc, link, sink):
        await smsc.send_raw(bytes.fromhex("00000014" "00000099" "00000000" "0000002a") + b"junk")
        await smsc.send_raw(bytes.fromhex("00000012" "00000005" "00000000" "0000002b") + b"\x01\x02")
        await smsc.wait_for(lambda: len(smsc.nacks) == 2)
        assert [(n.sequence, n.status) for n in smsc.nacks] == [(42, codec.RINVCMDID), (43, codec.RINVCMDLEN)]
        assert link.is_up and (await link.submit(seg())).ok
        assert len(smsc.binds) == 1


async def test_oversized_pdu_drops_the_connection_without_buffering_it(autojump_clock):
    async with running_link() as (smsc, link, sink):
        await smsc.send_raw((10_000_000).to_bytes(4, "big") + bytes(12))
        await sink.wait_for(lambda: sink.states[-1] is LinkState.DOWN)
        assert "framing error" in sink.statuses[-1].reason
        await sink.wait_for(lambda: link.is_up)


async def test_unknown_tlvs_and_upper_case_receipts_are_understood(autojump_clock):
    b = Behaviour(unknown_tlvs=True, dlr_style="upper", dlr_tlvs=False, dlr_stat="UNDELIV", dlr_err="012")
    async with running_link(behaviour=b) as (smsc, link, sink):
        result = await link.submit(seg())
        await sink.wait_for(lambda: sink.receipts)
        r = sink.receipts[0]
        assert matches(r, result.carrier_id) and (r.stat, r.err) == ("UNDELIV", "012")
        assert r.done_at is not None and "Stat:UNDELIV" in r.raw, r


async def test_receipt_is_acknowledged_only_after_the_sink_commits(autojump_clock):
    async with running_link() as (smsc, link, sink):
        sink.fail_receipts = 1
        await link.submit(seg())
        await sink.wait_for(lambda: sink.receipts)
        await smsc.wait_for(lambda: len(smsc.deliver_resps) == 2)
        statuses = [s for s, _ in smsc.deliver_resps]
        assert statuses == [codec.RX_T_APPN, codec.ROK]    # refused, redelivered, then accepted
        assert len(sink.receipts) == 1


@pytest.mark.parametrize("split", ["udh8", "udh16", "sar", "payload"])
async def test_long_mo_is_reassembled(autojump_clock, split):
    text = "".join(f"word{i} " for i in range(80))        # 3 GSM-7 parts
    async with running_link() as (smsc, link, sink):
        smsc.send_mo(text, split=split)
        await sink.wait_for(lambda: sink.messages)
        m = sink.messages[0]
        assert (m.text, m.sender, m.recipient, m.link) == (text, "+15550001111", "+15559990000", "carrier")
        assert m.dedup_key
        await smsc.wait_for(lambda: len(smsc.deliver_resps) == (1 if split == "payload" else 3))
        assert {s for s, _ in smsc.deliver_resps} == {codec.ROK}


async def test_ucs2_mo_single_and_long(autojump_clock):
    short, long = "Привет 👋", "Ответ: " + "ж" * 150
    async with running_link() as (smsc, link, sink):
        smsc.send_mo(short, sender="+4915100000001")
        smsc.send_mo(long, sender="+4915100000002")
        await sink.wait_for(lambda: len(sink.messages) == 2)
        assert {(m.sender, m.text) for m in sink.messages} == {("+4915100000001", short), ("+4915100000002", long)}


async def test_mo_redelivered_after_a_failed_commit_arrives_once(autojump_clock):
    async with running_link() as (smsc, link, sink):
        sink.fail_inbound = 1
        smsc.send_mo("Yes")
        await sink.wait_for(lambda: sink.messages)
        await smsc.wait_for(lambda: len(smsc.deliver_resps) == 2)
        assert [s for s, _ in smsc.deliver_resps] == [codec.RX_T_APPN, codec.ROK]
        smsc.send_mo("Yes")                          # the SMSC resends it (its resp was lost)
        await smsc.wait_for(lambda: len(smsc.deliver_resps) == 3)
        assert [m.text for m in sink.messages] == ["Yes"]


async def test_incomplete_long_mo_is_delivered_after_the_timeout(autojump_clock):
    async with running_link() as (smsc, link, sink):
        smsc.send_mo("a" * 153 + "b" * 153 + "c" * 10, only=(1, 3))
        await smsc.wait_for(lambda: len(smsc.deliver_resps) == 2)
        start = trio.current_time()
        await trio.sleep(250)
        assert not sink.messages                        # parts are held, not shown as fragments
        await sink.wait_for(lambda: sink.messages)
        assert sink.messages[0].text == "a" * 153 + "c" * 10
        assert trio.current_time() - start == pytest.approx(300, abs=1)


async def test_transmitter_receiver_pair_receipts_arrive_on_the_receiver(autojump_clock):
    async with running_link(cfg(bind="transmitter+receiver")) as (smsc, link, sink):
        await sink.wait_for(lambda: sink.states[-1] is LinkState.UP)
        assert sorted(p.command for p in smsc.binds) == ["bind_receiver", "bind_transmitter"]
        result = await link.submit(seg())
        await sink.wait_for(lambda: sink.receipts)
        assert matches(sink.receipts[0], result.carrier_id)
        receiver = next(c for c in smsc.conns if c.mode == "receiver")
        assert receiver.seq.next() > 1                # the receipt went out on the receiver bind


async def test_receipts_queued_while_down_arrive_after_rebind(autojump_clock):
    b = Behaviour(dlr_delay=5.0)
    async with running_link(behaviour=b) as (smsc, link, sink):
        result = await link.submit(seg())
        await smsc.drop()
        await sink.wait_for(lambda: sink.receipts)
        assert matches(sink.receipts[0], result.carrier_id) and len(smsc.binds) == 2


async def test_shutdown_unbinds_gracefully(autojump_clock):
    smsc = FakeSmsc()
    sink = RecordingSink()
    link = SmppLink(cfg(), sink, connect=smsc.connect)
    async with trio.open_nursery() as outer:
        await outer.start(smsc.run)
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:
                await nursery.start(link.run)
                await sink.wait_for(lambda: link.is_up)
                scope.cancel()
        assert smsc.unbinds == 1
        outer.cancel_scope.cancel()


async def test_shutdown_unbind_is_time_limited_when_the_smsc_stalls(autojump_clock):
    smsc = FakeSmsc()
    sink = RecordingSink()
    link = SmppLink(cfg(), sink, connect=smsc.connect)
    async with trio.open_nursery() as outer:
        await outer.start(smsc.run)
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:
                await nursery.start(link.run)
                await sink.wait_for(lambda: link.is_up)
                smsc.b.stall = True
                start = trio.current_time()
                scope.cancel()
        assert trio.current_time() - start == pytest.approx(2.0)
        outer.cancel_scope.cancel()


async def test_payload_mode_sends_whole_messages_in_message_payload(autojump_clock):
    text = "long " * 100
    async with running_link(cfg(long_messages="payload")) as (smsc, link, sink):
        assert link.whole_messages is True
        assert (await link.submit(seg(text))).ok
        sent = smsc.submits[0]
        assert sent.tlvs["message_payload"] == text.encode() and not sent.get("short_message")


async def test_udh_and_sar_segments_carry_their_concatenation(autojump_clock):
    async with running_link(cfg(long_messages="sar")) as (smsc, link, sink):
        await link.submit(seg("part two", index=2, count=3, ref=300, encoding=Encoding.UCS2))
        sent = smsc.submits[0]
        assert sent.tlvs == {"sar_msg_ref_num": 300, "sar_total_segments": 3, "sar_segment_seqnum": 2}
        assert sent.get("data_coding") == 8 and sent.get("short_message") == "part two".encode("utf-16-be")
    async with running_link() as (smsc, link, sink):
        await link.submit(seg("part two", index=2, count=3, ref=9))
        sent = smsc.submits[0]
        assert sent.get("esm_class") == 0x40 and sent.get("short_message") == bytes([5, 0, 3, 9, 3, 2]) + b"part two"


async def test_generic_nack_to_a_submit_is_classified_by_its_status(autojump_clock):
    async with running_link(behaviour=Behaviour(nack_submits=codec.RTHROTTLED)) as (smsc, link, sink):
        result = await link.submit(seg())
        assert (result.ok, result.transient, result.throttle) == (False, True, True)
        smsc.b.nack_submits = codec.RINVCMDLEN
        result = await link.submit(seg())
        assert (result.ok, result.transient, result.error_code) == (False, False, "ESME_RINVCMDLEN(0x00000002)")


async def test_data_sm_mo_is_stored_and_answered_with_data_sm_resp(autojump_clock):
    async with running_link() as (smsc, link, sink):
        await smsc.send_raw(codec.encode("data_sm", 900, source_addr="447700900123", source_addr_ton=1,
                                         destination_addr="15559990000", data_coding=8,
                                         message_payload="Grüße 👋".encode("utf-16-be")))
        await sink.wait_for(lambda: sink.messages)
        assert (sink.messages[0].sender, sink.messages[0].text) == ("+447700900123", "Grüße 👋")
        await smsc.wait_for(lambda: any(p.command == "data_sm_resp" for p in smsc.received))
        resp = next(p for p in smsc.received if p.command == "data_sm_resp")
        assert (resp.sequence, resp.status) == (900, codec.ROK)


async def test_mo_with_unknown_tlvs_is_understood(autojump_clock):
    async with running_link(behaviour=Behaviour(unknown_tlvs=True)) as (smsc, link, sink):
        smsc.send_mo("STOP")
        await sink.wait_for(lambda: sink.messages)
        assert sink.messages[0].text == "STOP"


async def test_traffic_keeps_the_link_alive_without_enquire_link(autojump_clock):
    async with running_link(cfg(enquire_link_s=30)) as (smsc, link, sink):
        for _ in range(10):
            assert (await link.submit(seg())).ok
            await trio.sleep(20)
        assert smsc.enquire_links == 0


async def test_two_smpp_links_run_side_by_side(autojump_clock):
    smsc = FakeSmsc()
    sinks = [RecordingSink(), RecordingSink()]
    links = [SmppLink(cfg(name=f"carrier{i}", system_id=f"esme{i}"), sinks[i], connect=smsc.connect) for i in (0, 1)]
    async with trio.open_nursery() as nursery:
        await nursery.start(smsc.run)
        for link in links:
            await nursery.start(link.run)
        for link, sink in zip(links, sinks):
            await sink.wait_for(lambda: link.is_up)
        results = [await link.submit(seg()) for link in links]
        assert all(r.ok for r in results) and results[0].carrier_id != results[1].carrier_id
        assert sorted(p.get("system_id") for p in smsc.binds) == ["esme0", "esme1"]
        for sink in sinks:
            await sink.wait_for(lambda: sink.receipts)
        for i, sink in enumerate(sinks):       # each receipt comes back on its own bind
            assert [r.link for r in sink.receipts] == [f"carrier{i}"] and matches(sink.receipts[0], results[i].carrier_id)
        nursery.cancel_scope.cancel()


async def test_smsc_that_never_answers_the_bind_is_retried(autojump_clock):
    async with running_link(cfg(response_timeout_s=10), Behaviour(stall=True), wait_up=False) as (smsc, link, sink):
        await sink.wait_for(lambda: LinkState.DOWN in sink.states)
        assert sink.statuses[-1].reason == "no answer within 10s while connecting/binding"
        smsc.b.stall = False
        await sink.wait_for(lambda: link.is_up)
        assert [p.command for p in smsc.received] == ["bind_transceiver", "bind_transceiver"]


async def test_one_handsets_messages_are_committed_in_arrival_order(autojump_clock):
    class SlowFirstSink(RecordingSink):
        async def inbound(self, message) -> None:
            await trio.sleep(5.0 if message.text == "STOP" else 0.0)   # a slow commit must not be overtaken
            await super().inbound(message)

    smsc = FakeSmsc()
    sink = SlowFirstSink()
    link = SmppLink(cfg(), sink, connect=smsc.connect)
    async with trio.open_nursery() as nursery:
        await nursery.start(smsc.run)
        await nursery.start(link.run)
        await sink.wait_for(lambda: link.is_up)
        smsc.send_mo("STOP", sender="+15550001111")
        smsc.send_mo("START", sender="+15550001111")
        smsc.send_mo("Hi", sender="+15550002222")
        await sink.wait_for(lambda: len(sink.messages) == 3)
        assert lane_of("15550001111") != lane_of("15550002222")
        texts = [m.text for m in sink.messages]
        assert texts.index("STOP") < texts.index("START")
        assert texts[0] == "Hi"                  # another handset is not held up by the slow commit
        nursery.cancel_scope.cancel()


async def test_bind_carries_the_password_file_and_system_type_and_a_link_without_a_password_is_refused(
        autojump_clock, tmp_path):
    from gatewayd import config as config_mod
    from gatewayd.errors import ConfigError

    secret = tmp_path / "carrier.password"
    secret.write_text("s3cr3t\n")                     # as an editor leaves it: the newline is not part of it
    async with running_link(cfg(password=None, password_file=str(secret), system_type="VMA")) as (smsc, link, sink):
        assert [(b.get("password"), b.get("system_type")) for b in smsc.binds] == [("s3cr3t", "VMA")]
    text = "\n".join(['[[links]]', 'name = "carrier"', 'kind = "smpp"', 'host = "smsc.example"',
                      'system_id = "esme"', '[[numbers]]', 'address = "+14155550100"', 'links = ["carrier"]'])
    with pytest.raises(ConfigError, match=r"links\[0\].*password"):
        config_mod.parse(text)
