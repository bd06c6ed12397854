"""ModemLink against the pty fake modem: real serial fd I/O, sends, receipts, inbound, storage."""

from __future__ import annotations

from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing

from gatewayd.config import ModemConfig
from gatewayd.links.base import OutSegment
from gatewayd.links.modem import pdu
from gatewayd.links.modem.link import ModemLink
from gatewayd.models import Encoding, LinkState
from tests.fakes.modem import FakeModem

pytestmark = pytest.mark.trio


class Sink:
    """Records what the link reports; ``gate`` (when set) holds inbound/receipt commits open."""

    def __init__(self) -> None:
        self.receipts: list = []
        self.messages: list = []
        self.statuses: list = []
        self.gate: trio.Event | None = None
        self.entered = trio.Event()

    async def receipt(self, receipt) -> None:
        await self._hold()
        self.receipts.append(receipt)

    async def inbound(self, message) -> None:
        await self._hold()
        self.messages.append(message)

    async def _hold(self) -> None:
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()

    def status(self, status) -> None:
        self.statuses.append(status)


def make_sink() -> Sink:
    return Sink()


async def eventually(predicate, timeout: float = 5.0) -> None:
    """Wait for a condition that the fake modem thread or the link makes true."""
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(0.01)


def make_link(fake: FakeModem, sink: Sink, **kw) -> ModemLink:
    opts = dict(health_s=kw.pop("health_s", 0.3), backoff_min_s=0.05, backoff_max_s=0.2,
                reassembly_timeout_s=kw.pop("reassembly_timeout_s", 600.0))
    cfg = ModemConfig(name=kw.pop("name", "m0"), device=fake.path, number="+15550000001", command_timeout_s=0.5,
                      send_timeout_s=2.0, **kw)
    return ModemLink(cfg, sink, **opts)


@asynccontextmanager
async def running(link: ModemLink, *, up: bool = True):
    async with trio.open_nursery() as nursery:
        await nursery.start(link.run)
        if up:
            await eventually(lambda: link.is_up)
        yield
        nursery.cancel_scope.cancel()


@pytest.fixture
def fake(tmp_path):
    with FakeModem(str(tmp_path / "modem0")) as modem:
        yield modem


def seg(text="hello", *, recipient="+15559876543", index=1, count=1, ref=0, encoding=Encoding.GSM7, ttl=None):
    return OutSegment(segment_id=index, message_id=1, sender="+15550000001", recipient=recipient, index=index,
                      count=count, ref=ref, encoding=encoding, text=text, validity_s=ttl)


async def test_initialises_in_pdu_mode_and_reports_identity(fake):
    sink = make_sink()
    link = make_link(fake, sink)
    assert (link.kind, link.window, link.whole_messages) == ("modem", 1, False)
    async with running(link):
        for cmd in ("ATE0", "AT+CMEE=1", "AT+CPIN?", "AT+CMGF=0", "AT+CNMI=2,1,0,2,0", "AT+CMMS=2",
                    'AT+CPMS="SM","SM","SM"'):
            assert cmd in fake.commands
        up = [s for s in sink.statuses if s.state is LinkState.UP][-1]
        assert up.detail["imei"] == "356938035643809"
        assert up.detail["imsi"] == "310150123456789"
        assert up.detail["iccid"] == "8901260123456789012"
        assert up.detail["operator"] == "FakeNet"
        assert up.detail["registration"] == "home"
        assert up.detail["signal"] == -73


async def test_send_returns_message_reference_and_requests_report(fake):
    sink = make_sink()
    link = make_link(fake, sink)
    async with running(link):
        result = await link.submit(seg("Hi {you}", ttl=3600))
        assert result.ok and result.carrier_id == "1"
        [sent] = fake.sent
        assert sent.submit.recipient == "+15559876543" and sent.submit.text == "Hi {you}"
        assert sent.submit.srr and pdu.validity_seconds(sent.submit.validity) <= 3600
        # the fake answers with a status report (+CDSI -> read -> delete)
        await eventually(lambda: sink.receipts)
        [rc] = sink.receipts
        assert (rc.link, rc.carrier_id, rc.recipient, rc.stat, rc.err) == ("m0", "1", "+15559876543", "DELIVRD", "00")
        assert rc.done_at is not None
        await eventually(lambda: not fake.storage)


async def test_multipart_segments_carry_concat_udh(fake):
    link = make_link(fake, make_sink())
    async with running(link):
        r1 = await link.submit(seg("a" * 153, index=1, count=2, ref=77))
        r2 = await link.submit(seg("ж" * 10, index=2, count=2, ref=77, encoding=Encoding.UCS2))
        assert (r1.carrier_id, r2.carrier_id) == ("1", "2")
        assert [s.submit.concat for s in fake.sent] == [pdu.Concat(77, 2, 1), pdu.Concat(77, 2, 2)]
        assert fake.sent[1].submit.text == "ж" * 10


async def test_status_report_failure_and_direct_cds_acknowledged_after_commit(tmp_path):
    with FakeModem(str(tmp_path / "m"), reject_cnmi_ds2=True, report_status=0x46) as fake:
        sink = make_sink()
        sink.gate = trio.Event()
        link = make_link(fake, sink)
        async with running(link):
            assert (await link.submit(seg())).ok
            await eventually(lambda: sink.entered.is_set())
            assert fake.acks == 0                    # no +CNMA before the sink committed
            sink.gate.set()
            await eventually(lambda: fake.acks == 1)
            assert sink.receipts[0].stat == "EXPIRED" and sink.receipts[0].err == "46"


async def test_cms_error_maps_to_transient_or_permanent(fake):
    link = make_link(fake, make_sink())
    async with running(link):
        fake.cms_error = 331
        r = await link.submit(seg())
        assert (r.ok, r.transient, r.error_code, r.error_text) == (False, True, "CMS 331", "no network service")
        fake.cms_error = 1
        r = await link.submit(seg())
        assert (r.ok, r.transient, r.error_code) == (False, False, "CMS 1")
        fake.cms_error = None
        assert (await link.submit(seg())).ok
        assert link.is_up


@pytest.mark.parametrize("code,text", [(42, "congestion"), (47, "resources unavailable, unspecified")])
async def test_network_busy_cms_errors_are_throttling_not_failures(fake, code, text):
    """TS 24.011 RP-causes 42/47 (the network is busy) are flow control: the dispatcher defers the
    message without counting an attempt and slows the modem, as for ESME_RTHROTTLED."""
    link = make_link(fake, make_sink())
    async with running(link):
        fake.cms_error = code
        r = await link.submit(seg())
        assert (r.ok, r.transient, r.throttle, r.error_code, r.error_text) == (False, True, True, f"CMS {code}", text)
        fake.cms_error = 41                          # temporary failure: a network fault, an attempt
        r = await link.submit(seg())
        assert (r.ok, r.transient, r.throttle) == (False, True, False)
        fake.cms_error = None
        assert (await link.submit(seg())).ok


async def test_invalid_recipient_fails_permanently_without_touching_the_modem(fake):
    link = make_link(fake, make_sink())
    async with running(link):
        r = await link.submit(seg(recipient="not a number"))
        assert not r.ok and not r.transient
        assert not any(c.startswith("AT+CMGS") for c in fake.commands)


async def test_inbound_is_deleted_only_after_commit(fake):
    sink = make_sink()
    sink.gate = trio.Event()
    link = make_link(fake, sink)
    async with running(link):
        [index] = fake.receive_sms("+15551234567", "Yes please")
        await eventually(lambda: sink.entered.is_set())
        assert index in fake.storage and index not in fake.deleted
        sink.gate.set()
        await eventually(lambda: index in fake.deleted)
        [msg] = sink.messages
        assert (msg.sender, msg.recipient, msg.text, msg.link) == ("+15551234567", "+15550000001", "Yes please", "m0")
        assert msg.dedup_key


async def test_direct_cmt_is_acknowledged(tmp_path):
    with FakeModem(str(tmp_path / "m"), direct_cmt=True) as fake:
        sink = make_sink()
        async with running(make_link(fake, sink)):
            fake.receive_sms("+15551234567", "direct")
            await eventually(lambda: fake.acks == 1)
            assert sink.messages[0].text == "direct"


async def test_storage_collected_at_start_even_when_full(tmp_path):
    with FakeModem(str(tmp_path / "m"), storage_size=5) as fake:
        for i in range(5):
            fake.receive_sms("+1555000111", f"old {i}")
        assert fake.receive_sms("+1555000111", "overflow") == []      # storage full: rejected
        sink = make_sink()
        async with running(make_link(fake, sink)):
            await eventually(lambda: len(sink.messages) == 5)
            await eventually(lambda: not fake.storage)
            assert sorted(m.text for m in sink.messages) == [f"old {i}" for i in range(5)]
            assert fake.receive_sms("+1555000111", "room again")          # space is back
            await eventually(lambda: len(sink.messages) == 6)


async def test_periodic_listing_picks_up_messages_without_urc(tmp_path):
    with FakeModem(str(tmp_path / "m")) as fake:
        sink = make_sink()
        async with running(make_link(fake, sink, poll_s=0.3)):
            fake.storage[3] = (0, pdu.encode_deliver("+15551112222", "silent"))   # no +CMTI
            await eventually(lambda: sink.messages)
            assert sink.messages[0].text == "silent"
            await eventually(lambda: 3 in fake.deleted)


async def test_concatenated_parts_reassembled_and_kept_until_complete(fake):
    sink = make_sink()
    async with running(make_link(fake, sink)):
        [i2] = fake.receive_sms("+15551234567", "world", concat=(9, 2, 2))
        await eventually(lambda: "AT+CMGR=%d" % i2 in fake.commands)
        assert i2 in fake.storage                  # a lone part stays in storage
        fake.receive_sms("+15551234567", "hello ", concat=(9, 2, 1))
        await eventually(lambda: sink.messages)
        assert sink.messages[0].text == "hello world"
        await eventually(lambda: not fake.storage)


async def test_incomplete_concatenation_delivered_flagged_after_timeout(fake):
    sink = make_sink()
    async with running(make_link(fake, sink, reassembly_timeout_s=0.5)):
        fake.receive_sms("+15551234567", "only part one", concat=(4, 3, 1))
        await eventually(lambda: sink.messages)
        text = sink.messages[0].text
        assert text.startswith("only part one") and "incomplete" in text and "2, 3" in text
        await eventually(lambda: not fake.storage)


async def test_urc_inside_a_command_response_is_not_lost(tmp_path):
    with FakeModem(str(tmp_path / "m"), urc_mid_response=True) as fake:
        sink = make_sink()
        async with running(make_link(fake, sink, health_s=0.2)):
            fake.receive_sms("+15551234567", "wedged")      # its +CMTI rides inside a +CSQ answer
            await eventually(lambda: sink.messages)
            assert sink.messages[0].text == "wedged"


async def test_max_per_minute_paces_sends(fake):
    link = make_link(fake, make_sink(), max_per_minute=600)     # one every 0.1 s
    async with running(link):
        start = trio.current_time()
        for _ in range(4):
            assert (await link.submit(seg())).ok
        assert trio.current_time() - start >= 0.3


async def test_window_two_still_sends_one_at_a_time_in_order(tmp_path):
    with FakeModem(str(tmp_path / "m"), send_time=0.1) as fake:
        link = make_link(fake, make_sink(), window=2)
        assert link.window == 2
        async with running(link):
            async with trio.open_nursery() as nursery:
                for i in range(4):
                    nursery.start_soon(link.submit, seg(f"m{i}"))
                    await trio.testing.wait_all_tasks_blocked()    # handed over one after another
            assert [s.submit.text for s in fake.sent] == ["m0", "m1", "m2", "m3"]
            assert [s.mr for s in fake.sent] == [1, 2, 3, 4]
            gaps = [b.at - a.at for a, b in zip(fake.sent, fake.sent[1:])]
            assert min(gaps) >= 0.09          # never two sends inside the modem at once


async def test_storage_filling_up_without_urcs_is_emptied_promptly(tmp_path):
    with FakeModem(str(tmp_path / "m"), storage_size=4) as fake:
        sink = make_sink()
        async with running(make_link(fake, sink, poll_s=3600)):        # no periodic listing soon
            fake.fill_silently("+15551234567", 4)
            await eventually(lambda: len(sink.messages) == 4)            # the health check saw 4/4
            await eventually(lambda: not fake.storage)


async def test_report_with_national_recipient_is_matched_back_to_e164(tmp_path):
    with FakeModem(str(tmp_path / "m"), report_national=True) as fake:
        sink = make_sink()
        link = make_link(fake, sink)
        async with running(link):
            assert (await link.submit(seg(recipient="+15559876543"))).ok
            await eventually(lambda: sink.receipts)
            assert sink.receipts[0].recipient == "+15559876543"
