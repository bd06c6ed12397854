"""Seed 001's stop-and-archive rule, driven by the ``campaign.status`` event campaigns emit."""

from __future__ import annotations

import pytest
import trio

from gatewayd.inbox import routing
from test_inbox_support import (PERSONAL, SINGLE, Events, Refused, call, campaign, contact, gateway, receive,
                                sent_step, set_status, sql)

pytestmark = pytest.mark.trio
JOHN, JANE, JIM = "+14155550123", "+14155550124", "+14155550125"


async def _three_replies(gw, number, office="north"):
    """A campaign on ``number`` with three conversations: one needs attention (assigned to alice),
    one answered by an agent, one the assistant handled."""
    cid = await campaign(gw, number=number, office=office, operated_by="agent")
    convs = {}
    for phone in (JOHN, JANE, JIM):
        await sent_step(gw, cid, await contact(gw, phone, phone[-4:]), phone, number=number)
        convs[phone] = (await receive(gw, phone, "question?", to=number))["conversation_id"]
    await call(gw, "root", "inbox_assign", conversation_id=convs[JOHN], user="alice")
    await call(gw, "root", "inbox_reply", conversation_id=convs[JANE], text="answered")
    await call(gw, "root", "inbox_attention", conversation_id=convs[JIM], on=False)
    return cid, convs


async def test_stop_on_a_reusable_number_moves_what_needs_attention_to_the_unsolicited_inbox(tmp_path):
    async with gateway(tmp_path) as gw:
        cid, convs = await _three_replies(gw, PERSONAL)      # unsolicited: agent:carol + office:north
        events = Events(gw)
        await set_status(gw, cid, "stopped")
        john = (await call(gw, "root", "inbox_show", conversation_id=convs[JOHN]))["conversation"]
        assert john["inbox"] == ["agent:carol", "office:north"] and john["office"] == "north"
        assert john["assignee"] is None                      # alice is not among the targets: removed
        assert john["section"] == "needs_attention" and "ended" in john["attention_reason"]
        assert [c["id"] for c in (await call(gw, "carol", "inbox_list"))["items"]] == [convs[JOHN]]
        assert (await call(gw, "alice", "inbox_list"))["items"] == []
        for phone in (JANE, JIM):                            # nothing pending: they stay with the campaign
            c = (await call(gw, "root", "inbox_show", conversation_id=convs[phone]))["conversation"]
            assert c["inbox"] == ["office:north"] and c["section"] == "agent"
        moved = [e for e in events.items if e.type == "conversation.moved"]
        assert [e.data["id"] for e in moved] == [convs[JOHN]] and moved[0].data["from_assignee"] == "alice"
        await set_status(gw, cid, "archived")                # archive after stop: nothing moves twice
        assert len([e for e in events.items if e.type == "conversation.moved"]) == 1


async def test_an_assignee_who_is_among_the_targets_keeps_the_conversation(tmp_path):
    async with gateway(tmp_path) as gw:
        cid, convs = await _three_replies(gw, PERSONAL)
        await call(gw, "root", "inbox_assign", conversation_id=convs[JOHN], user="bob")   # bob is in north
        await set_status(gw, cid, "archived")
        john = (await call(gw, "root", "inbox_show", conversation_id=convs[JOHN]))["conversation"]
        assert john["assignee"] == "bob" and john["inbox"] == ["agent:carol", "office:north"]


async def test_later_replies_to_an_ended_campaign_go_to_the_unsolicited_inbox(tmp_path):
    async with gateway(tmp_path) as gw:
        cid, convs = await _three_replies(gw, PERSONAL)
        await set_status(gw, cid, "stopped")
        await receive(gw, JANE, "one more thing", to=PERSONAL)
        jane = (await call(gw, "root", "inbox_show", conversation_id=convs[JANE]))["conversation"]
        assert jane["inbox"] == ["agent:carol", "office:north"] and jane["section"] == "needs_attention"


async def test_stop_on_a_single_use_number_closes_pending_conversations_and_sends_nothing(tmp_path):
    async with gateway(tmp_path) as gw:
        cid, convs = await _three_replies(gw, SINGLE, office="main")
        late = await call(gw, "root", "inbox_reply", conversation_id=convs[JIM], text="queued, not yet sent")
        events = Events(gw)
        await set_status(gw, cid, "stopped")
        for phone in (JOHN, JANE, JIM):
            c = (await call(gw, "root", "inbox_show", conversation_id=convs[phone]))["conversation"]
            assert c["status"] == "closed" and not c["needs_attention"]
        assert (await sql(gw, "SELECT state FROM messages WHERE id = ?", late["message_id"]))[0]["state"] == "ignored"
        assert {r["state"] for r in await sql(gw, "SELECT state FROM campaign_contacts WHERE campaign_id = ?", cid)} \
            == {"closed"}
        assert (await call(gw, "alice", "inbox_list"))["items"] == []            # gone from the open inbox
        assert len((await call(gw, "alice", "inbox_list", status="closed"))["items"]) == 3
        with pytest.raises(Refused) as e:
            await call(gw, "alice", "inbox_reply", conversation_id=convs[JOHN], text="hello?")
        assert e.value.code == "closed" and "single-use" in e.value.message
        before = len(await sql(gw, "SELECT 1 FROM messages"))
        await receive(gw, JOHN, "hello? anyone?", to=SINGLE)                     # no intro, no assistant
        assert len(await sql(gw, "SELECT 1 FROM messages")) == before
        assert sum(e.type == "conversation.closed" for e in events.items) == 3


async def test_campaigns_code_may_call_the_rule_directly_and_it_is_idempotent(tmp_path):
    async with gateway(tmp_path) as gw:
        cid, convs = await _three_replies(gw, PERSONAL)

        def stop(tx):
            tx.db.execute("UPDATE campaigns SET status = 'stopped' WHERE id = ?", (cid,))
            return routing.on_campaign_ended(tx, cid), routing.on_campaign_ended(tx, cid)

        first, again = await gw.store.run(stop)
        assert first == {"moved": 1, "closed": 0} and again == {"moved": 0, "closed": 0}


async def test_a_campaign_that_ended_while_the_event_was_lost_is_handled_at_start(tmp_path):
    async with gateway(tmp_path) as gw:
        cid, convs = await _three_replies(gw, SINGLE, office="main")

        def crash_after_stop(tx):       # status committed, the listener's follow-up never ran
            tx.db.execute("UPDATE campaigns SET status = 'stopped' WHERE id = ?", (cid,))
        await gw.store.run(crash_after_stop)
        assert len((await call(gw, "alice", "inbox_list"))["items"]) == 3
        async with trio.open_nursery() as nursery:
            await nursery.start(routing.service, gw)
        assert (await call(gw, "alice", "inbox_list"))["items"] == []
        assert len((await call(gw, "alice", "inbox_list", status="closed"))["items"]) == 3


async def test_the_assistant_cannot_take_back_a_conversation_of_an_ended_campaign(tmp_path):
    async with gateway(tmp_path) as gw:
        cid, convs = await _three_replies(gw, PERSONAL)
        await set_status(gw, cid, "stopped")
        with pytest.raises(Refused) as e:
            await call(gw, "root", "inbox_operated_by", conversation_id=convs[JANE], operated_by="assistant")
        assert e.value.code == "no_script" and "ended" in e.value.message
