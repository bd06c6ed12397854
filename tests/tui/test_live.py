"""Sans-I/O live bookkeeping: throughput buckets, batch digests, coalescing into few UI updates,
and the calendar grid."""

from __future__ import annotations

import datetime as dt

import pytest
from fake_client import FakeClient
from helpers import until

from gatewayd.protocol import Event
from gatewaytui.app import GatewayApp, LiveBatch
from gatewaytui.live import Batch, Throughput
from gatewaytui.widgets.calendar import month_grid, shift_month


def ev(cursor: int, type_: str, **data) -> Event:
    return Event(cursor=cursor, at=1000.0 + cursor / 10, type=type_, data=data)


def test_throughput_counts_per_second_and_forgets_old_seconds():
    t = Throughput(window_s=60)
    for at in (100.1, 100.5, 101.2, 103.9):
        t.add(at)
    t.add(100.7)                 # a late (replayed) event lands in its own second
    assert t.series(104.0, 5) == [3.0, 1.0, 0.0, 1.0, 0.0]
    assert t.rate(104.0, over_s=5) == 1.0
    assert sum(t.series(400.0, 60)) == 0        # nothing from minutes ago


def test_batch_digests_what_screens_need():
    b = Batch()
    b.add(ev(1, "message.state", id=7, state="queued", campaign_id=3))
    b.add(ev(2, "message.state", id=7, state="sent"))
    b.add(ev(3, "receipt", matched=False, carrier_id="x"))
    b.add(ev(4, "link.state", link="smsc1", state="down", reason="bind refused"))
    b.add(ev(5, "campaign.status", id=3, name="Promo", status="suspended", reason="daily cap reached"))
    b.add(ev(6, "inbound", sender="+1", text="hi", conversation_id=11))
    assert b.message_states == {7: "sent"} and b.new_message_ids == {7}
    assert b.campaign_ids == {3} and b.conversation_ids == {11} and b.unmatched_receipts == 1
    assert b.link_changed and len(b.sent_times()) == 1
    assert b.alerts == ["link smsc1 down: bind refused", "campaign Promo suspended: daily cap reached"]


def test_month_grid_and_month_shift():
    weeks = month_grid(2026, 2)
    assert weeks[0][:6] == [None] * 6 and weeks[0][6] == dt.date(2026, 2, 1)
    assert sum(d is not None for w in weeks for d in w) == 28
    assert shift_month(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)
    assert shift_month(dt.date(2026, 1, 15), -1) == dt.date(2025, 12, 15)


@pytest.mark.asyncio
async def test_a_burst_of_events_reaches_the_screen_as_a_few_batches(monkeypatch):
    from gatewaytui.screens.dashboard import DashboardScreen

    client = FakeClient(messages=3)
    app = GatewayApp(client, tick_s=0.2, status_every_s=60)
    batches: list[int] = []
    original = DashboardScreen.on_live_batch

    def counting(self, message: LiveBatch) -> None:
        batches.append(len(message.batch))
        original(self, message)

    monkeypatch.setattr(DashboardScreen, "on_live_batch", counting)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.status is not None)
        for i in range(2000):
            client.push("message.state", id=i, state="sent")
        await until(pilot, lambda: sum(batches) == 2000, 10, f"all events delivered, got {batches}")
        assert len(batches) <= 10                   # coalesced, not 2000 repaints
        assert sum(app.throughput.series(app.clock(), 60)) == 2000


def test_per_link_sparkline_and_batch_attribution():
    """Issue 7: each link row shows its own throughput sparkline, fed by the link in the events."""
    from gatewayd.protocol import Event
    from gatewaytui.live import Batch, Throughput

    b = Batch()
    for i, link in enumerate(["smpp-a", "smpp-a", "modem-1", None]):
        b.add(Event(cursor=i + 1, at=100.0 + i, type="message.state",
                    data={"id": i + 1, "state": "sent", "link": link}))
    b.add(Event(cursor=9, at=104.0, type="message.state", data={"id": 9, "state": "queued", "link": None}))
    assert b.sent_by_link() == [("smpp-a", 100.0), ("smpp-a", 101.0), ("modem-1", 102.0)]
    t = Throughput()
    for at in (100.0, 101.0, 130.0):
        t.add(at)
    line = t.spark(now=159.0)
    assert len(line) == 12 and line[0] == "█" and line[6] != " " and line[-1] == " "
    assert Throughput().spark(now=10.0) == " " * 12
