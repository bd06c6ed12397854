"""Campaign analytics: seed 001's activity buckets, seed 002's segment states, seed 004's rate."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from gatewayd.analytics import reports
from gatewayd.contacts import suppression
from gatewayd.models import Priority
from gatewayd.store import messages as mq
from gatewayd.store import receipts

from test_campaign_kit import NUMBER, OTHER, World

UTC = dt.timezone.utc
START = dt.datetime(2026, 1, 10, 9, 30, tzinfo=UTC).timestamp()
HOUR, DAY = 3600.0, 86400.0


@pytest.mark.parametrize("end, bucket", [
    (START + HOUR, "hour"),
    (START + DAY, "hour"),                                              # exactly one day
    (START + DAY + 1, "day"),
    (dt.datetime(2026, 3, 10, 9, 30, tzinfo=UTC).timestamp(), "day"),   # exactly two months
    (dt.datetime(2026, 3, 10, 9, 31, tzinfo=UTC).timestamp(), "month"),
    (dt.datetime(2028, 1, 10, 9, 30, tzinfo=UTC).timestamp(), "month"),  # exactly two years
    (dt.datetime(2028, 1, 11, 0, 0, tzinfo=UTC).timestamp(), "year"),
])
def test_activity_bucket_follows_the_active_range(end, bucket):
    assert reports.bucket_for(START, end) == bucket


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    yield w
    w.close()


def run_campaign(w: World, phones: list[str], text: str = "Hi {first_name}") -> int:
    w.contacts("L", [[f"P{i}", "X", p] for i, p in enumerate(phones)])
    s = w.script("s", [{"text": text}])
    c = w.campaign("c", s, "L")
    w.pump(c)
    return c


def report(w: World, cid: int, prices=None) -> dict:
    row = w.db().execute("SELECT * FROM campaigns WHERE id = ?", (cid,)).fetchone()
    return reports.campaign_report(w.db(), row, prices or {}, w.now)


PHONES = [f"+1415555{5000 + i:04d}" for i in range(6)]


def test_engagement_counts_invalid_answers_and_opt_outs_as_responses(world):
    world.contacts("L", [["P", "X", PHONES[5]]])
    world.run(suppression.opt_out, PHONES[5], "all")
    c = run_campaign(world, PHONES[:5])
    world.carrier_accepts()
    world.reply(PHONES[0], "Yes")
    world.reply(PHONES[0], "and another thing")     # one contact, two messages
    world.reply(PHONES[1], "banana")                # an invalid answer is still a response
    world.reply(PHONES[2], "STOP")
    rep = report(world, c)
    assert rep["engagement"] == {"contacts_sent": 5, "contacts_responded": 3, "opt_outs": 1, "rate": 0.6}
    assert rep["responses"]["contact"] == 4
    assert rep["send_status"]["unreachable"] == 1 and rep["send_status"]["total"] == 5


def test_send_status_and_segments_by_state_with_cost(world):
    long_text = "x" * 200                            # two segments each
    c = run_campaign(world, PHONES[:4], text=long_text)
    world.carrier_accepts()
    ids = [m["id"] for m in world.messages(campaign_id=c)]

    def outcomes(tx):
        for mid, stat in ((ids[0], "DELIVRD"), (ids[1], "UNDELIV")):
            for seg in tx.db.execute("SELECT carrier_id FROM segments WHERE message_id = ?", (mid,)).fetchall():
                receipts.record_receipt(tx, "sim", seg[0], stat, None, tx.now, None, "")

    world.run(outcomes)
    rep = report(world, c, prices={"sim": 0.01})
    s = rep["send_status"]
    assert (s["total"], s["succeeded"], s["failed"], s["pending"]) == (4, 3, 1, 0)
    seg = rep["performance"]["segments"]
    assert (seg["delivered_confirmed"], seg["undelivered"], seg["delivered_unconfirmed"]) == (2, 2, 4)
    assert set(seg) == set(reports.SEGMENT_KEYS)
    assert rep["performance"]["cost"] == pytest.approx(0.08)   # 8 charged segments x 0.01


def test_performance_filters_by_link_number_and_time(world):
    c = run_campaign(world, PHONES[:2])
    world.carrier_accepts()
    world.now += DAY

    def other(tx):
        mq.enqueue(tx, [mq.NewMessage(sender=OTHER, recipient=PHONES[3], text="t", priority=Priority.TRANSACTIONAL)])

    world.run(other)
    all_ = reports.performance(world.db(), {})
    assert all_["segments"]["delivered_unconfirmed"] == 2 and all_["segments"]["queued"] == 1
    assert reports.performance(world.db(), {}, number=OTHER)["total_segments"] == 1
    assert reports.performance(world.db(), {}, link="sim")["total_segments"] == 2
    assert reports.performance(world.db(), {}, since=world.now - HOUR)["total_segments"] == 1
    assert reports.performance(world.db(), {}, campaign_id=c)["total_segments"] == 2


def test_activity_series_keeps_empty_buckets_and_counts_both_directions(world):
    c = run_campaign(world, PHONES[:2])
    world.carrier_accepts()
    world.now += 3 * HOUR
    world.reply(PHONES[0], "hello")
    rep = report(world, c)
    act = rep["activity"]
    assert act["bucket"] == "hour" and len(act["series"]) == 4
    assert [p["sent"] for p in act["series"]] == [2, 0, 0, 0]
    assert [p["received"] for p in act["series"]] == [0, 0, 0, 1]


def test_median_agent_response_time(world):
    c = run_campaign(world, PHONES[:3])
    world.carrier_accepts()

    def agent(phone):
        def op(tx):
            mq.enqueue(tx, [mq.NewMessage(sender=NUMBER, recipient=phone, text="agent here", source="agent",
                                          campaign_id=c, priority=Priority.INTERACTIVE, created_by="ann")])
        world.run(op)

    for phone, wait in zip(PHONES[:3], (60, 120, 600)):
        world.reply(phone, "question?")
        world.now += wait
        agent(phone)
        world.carrier_accepts()
    world.reply(PHONES[0], "thanks")                   # unanswered: not a response time yet
    rep = report(world, c)
    assert rep["responses"]["agent"] == 3 and rep["responses"]["median_agent_response_s"] == 120
    assert rep["send_status"]["total"] == 3            # agent replies are not campaign sends


def test_report_exports_as_csv(world):
    c = run_campaign(world, PHONES[:2])
    world.carrier_accepts()
    text = reports.report_csv(report(world, c))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["section", "metric", "value"]
    values = {(r[0], r[1]): r[2] for r in rows if len(r) == 3}
    assert values[("send_status", "total")] == "2"
    assert values[("engagement", "contacts_sent")] == "2"
    assert values[("performance.segments", "delivered_unconfirmed")] == "2"
    assert any(r and r[0].startswith("activity_hour") for r in rows)
