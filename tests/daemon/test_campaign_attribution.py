"""Seed 000: one contact, one number, several campaigns — replies go to the latest sender.

John Doe is in campaign 1 and campaign 2 on the same number. Campaign 1 texts him at 1pm,
campaign 2 at 2pm, he answers at 3pm: the reply, the response rate, a STOP and stop-on-reply all
belong to campaign 2, and campaign 1 keeps running for him.
"""

from __future__ import annotations

import pytest

from gatewayd.analytics import reports
from gatewayd.campaigns import attribution, lifecycle

from test_campaign_kit import NUMBER, OTHER, World, make_cfg

JOHN = "+14155550123"
JANE = "+14155550124"
HOUR = 3600.0


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    yield w
    w.close()


def two_campaigns(w: World, *, stop_on_reply: bool = False) -> tuple[int, int]:
    """Campaign 1 texts John at 1pm, campaign 2 at 2pm (both two-step, same number)."""
    w.contacts("L", [["John", "Doe", JOHN]])
    s1 = w.script("one", [{"text": "Hi {first_name}, campaign one"}, {"text": "one again", "delay_s": 2 * HOUR}])
    s2 = w.script("two", [{"text": "Hi {first_name}, campaign two"}, {"text": "two again", "delay_s": 2 * HOUR}])
    c1 = w.campaign("c1", s1, "L", stop_on_reply=stop_on_reply)
    w.pump(c1)
    w.carrier_accepts()                       # 1pm
    w.now += HOUR
    c2 = w.campaign("c2", s2, "L", stop_on_reply=stop_on_reply)
    w.pump(c2)
    w.carrier_accepts()                       # 2pm
    w.now += HOUR                             # 3pm
    return c1, c2


def report(w: World, cid: int) -> dict:
    row = w.db().execute("SELECT * FROM campaigns WHERE id = ?", (cid,)).fetchone()
    return reports.campaign_report(w.db(), row, {}, w.now)


def test_reply_at_3pm_is_attributed_to_campaign_two_and_counts_for_its_response_rate(world):
    c1, c2 = two_campaigns(world)
    reply = world.reply(JOHN, "Sounds good")
    assert reply["campaign_id"] == c2
    assert report(world, c2)["engagement"] == {"contacts_sent": 1, "contacts_responded": 1, "opt_outs": 0,
                                               "rate": 1.0}
    assert report(world, c1)["engagement"]["contacts_responded"] == 0
    assert report(world, c1)["engagement"]["rate"] == 0.0
    assert report(world, c2)["responses"]["contact"] == 1


def test_stop_at_3pm_unsubscribes_john_from_campaign_two_only(world):
    c1, c2 = two_campaigns(world)
    reply = world.reply(JOHN, " stop ")
    assert (reply["campaign_id"], reply["keyword"]) == (c2, "STOP")
    supp = [dict(r) for r in world.db().execute("SELECT * FROM suppressions")]
    assert [(s["phone"], s["scope"], s["campaign_id"]) for s in supp] == [(JOHN, "campaign", c2)]
    assert world.cc(c2, JOHN)["state"] == "opted_out"
    assert world.cc(c1, JOHN)["state"] == "active"
    # One confirmation goes back, at interactive priority, from the number he wrote to.
    confirmations = world.messages(source="keyword")
    assert len(confirmations) == 1 and confirmations[0]["priority"] == 3
    assert confirmations[0]["sender"] == NUMBER and confirmations[0]["recipient"] == JOHN
    # A second STOP changes nothing and is not confirmed again.
    world.reply(JOHN, "STOP")
    assert len(world.messages(source="keyword")) == 1
    assert report(world, c2)["engagement"]["opt_outs"] == 1
    assert report(world, c1)["engagement"]["opt_outs"] == 0
    # Campaign one's second step still reaches him; campaign two's never does.
    world.carrier_accepts()
    world.now += 2 * HOUR
    world.pump(c1)
    world.pump(c2)
    steps_sent = [(m["campaign_id"], m["step"]) for m in world.messages(recipient=JOHN, source="campaign")]
    assert (c1, 2) in steps_sent and (c2, 2) not in steps_sent


def test_stop_on_reply_stops_campaign_two_for_john_and_campaign_one_keeps_running(world):
    c1, c2 = two_campaigns(world, stop_on_reply=True)
    world.reply(JOHN, "Who is this?")
    assert world.cc(c2, JOHN)["state"] == "stopped"
    assert world.cc(c1, JOHN)["state"] == "active"
    world.now += 2 * HOUR
    world.pump(c1)
    world.pump(c2)
    second = [m["campaign_id"] for m in world.messages(recipient=JOHN, source="campaign", step=2)]
    assert second == [c1]


def test_a_queued_message_does_not_claim_the_reply(world):
    """Campaign 2's message is still queued at 3pm: John cannot be answering it."""
    world.contacts("L", [["John", "Doe", JOHN]])
    s = world.script("s", [{"text": "hello"}])
    c1 = world.campaign("c1", s, "L")
    world.pump(c1)
    world.carrier_accepts()
    world.now += HOUR
    c2 = world.campaign("c2", s, "L")
    world.pump(c2)                     # queued, not yet sent
    world.now += HOUR
    assert world.reply(JOHN, "yes")["campaign_id"] == c1


def test_reply_to_another_number_or_from_a_stranger_is_unattributed(world):
    c1, c2 = two_campaigns(world)
    assert world.reply(JOHN, "hi", to=OTHER)["campaign_id"] is None
    assert world.reply(JANE, "hi")["campaign_id"] is None
    assert attribution.attribute(world.db(), JOHN, NUMBER, world.now) == c2


def test_unattributed_stop_falls_back_to_the_number(world):
    world.contacts("L", [["Jane", "Roe", JANE]])
    assert world.reply(JANE, "STOP")["keyword"] == "STOP"
    row = world.db().execute("SELECT scope, number FROM suppressions WHERE phone = ?", (JANE,)).fetchone()
    assert tuple(row) == ("number", NUMBER)


def test_stopall_is_always_all_and_start_opts_back_in(world):
    c1, c2 = two_campaigns(world)
    world.reply(JOHN, "Stop All")
    assert world.db().execute("SELECT scope FROM suppressions WHERE phone = ?", (JOHN,)).fetchone()[0] == "all"
    assert world.cc(c1, JOHN)["state"] == "opted_out" and world.cc(c2, JOHN)["state"] == "opted_out"
    world.reply(JOHN, "unstop")
    assert world.db().execute("SELECT count(*) FROM suppressions WHERE phone = ?", (JOHN,)).fetchone()[0] == 0
    texts = [m["text"] for m in world.messages(source="keyword")]
    assert texts == [world.cfg.optout.confirmation, world.cfg.optout.resubscribed]


def test_help_gets_the_configured_answer_and_does_not_stop_the_campaign(world):
    c1, c2 = two_campaigns(world, stop_on_reply=True)
    assert world.reply(JOHN, "help")["keyword"] == "HELP"
    assert [m["text"] for m in world.messages(source="keyword")] == [world.cfg.optout.help]
    assert world.cc(c2, JOHN)["state"] == "active"


@pytest.mark.parametrize("scope", ["number", "all"])
def test_configured_scope_applies_to_plain_stop(tmp_path, scope):
    w = World(tmp_path, make_cfg(tmp_path, optout=f'scope = "{scope}"'))
    try:
        c1, c2 = two_campaigns(w)
        w.reply(JOHN, "QUIT")
        assert w.cc(c1, JOHN)["state"] == "opted_out" and w.cc(c2, JOHN)["state"] == "opted_out"
        assert w.db().execute("SELECT scope, campaign_id FROM suppressions").fetchone()[0] == scope
    finally:
        w.close()


def test_an_opted_out_contact_is_unreachable_in_a_new_campaign(world):
    world.contacts("L", [["John", "Doe", JOHN], ["Jane", "Roe", JANE]])
    world.reply(JOHN, "STOPALL")
    s = world.script("s", [{"text": "hello {first_name}"}])
    c = world.campaign("c", s, "L")
    world.pump(c)
    states = {m["recipient"]: m["state"] for m in world.messages(campaign_id=c)}
    assert states == {JOHN: "unreachable", JANE: "queued"}
    assert world.db().execute("SELECT suppressed FROM campaigns WHERE id = ?", (c,)).fetchone()[0] == 1
    assert lifecycle.get(world.db(), c)["status"] == "sending"
