"""Conversations: every reply lands in one (contact x our number), placed in its campaign's inbox or
the number's unsolicited inbox; threads show both directions with each message's status."""

from __future__ import annotations

import pytest

from gatewayd.store import messages as mq
from test_inbox_support import (PERSONAL, Events, Refused, call, campaign, contact, gateway, receive,
                                sent_step, sql)

pytestmark = pytest.mark.trio
JOHN = "+14155550123"


async def test_a_reply_to_a_campaign_lands_in_that_campaigns_conversation(tmp_path):
    async with gateway(tmp_path) as gw:
        cid = await campaign(gw, office="main")
        k = await contact(gw, JOHN, "John", "Doe")
        await sent_step(gw, cid, k, JOHN)
        row = await receive(gw, JOHN, "Who is this?")
        page = await call(gw, "alice", "inbox_list")
        [conv] = page["items"]
        assert row["conversation_id"] == conv["id"]
        assert (conv["campaign_id"], conv["office"], conv["first_name"], conv["last_name"]) == (cid, "main", "John", "Doe")
        assert conv["unread"] == 1 and conv["last_text"] == "Who is this?"
        assert conv["section"] == "needs_attention"          # agent-operated: someone has to answer
        await receive(gw, JOHN, "Hello?")
        page = await call(gw, "alice", "inbox_list")
        assert len(page["items"]) == 1 and page["items"][0]["unread"] == 2   # same contact x number


async def test_unattributed_reply_goes_to_the_unsolicited_inbox_with_one_intro(tmp_path):
    async with gateway(tmp_path) as gw:
        await receive(gw, JOHN, "Hi, is this the clinic?")
        await receive(gw, JOHN, "Hello??")
        [conv] = (await call(gw, "alice", "inbox_list"))["items"]
        assert conv["campaign_id"] is None and conv["inbox"] == ["office:main"] and conv["office"] == "main"
        intros = await sql(gw, "SELECT text, priority, source FROM messages WHERE recipient = ?", JOHN)
        assert intros == [{"text": "Thanks! An agent will get back to you.", "priority": 2, "source": "assistant"}]
        assert await call(gw, "bob", "inbox_list") == {"items": [], "counts": {"needs_attention": 0, "agent": 0,
                                                                                "assistant": 0}, "next_before": None}


async def test_personal_inbox_target_is_visible_to_that_agent_and_the_office(tmp_path):
    async with gateway(tmp_path) as gw:
        await receive(gw, JOHN, "hello", to=PERSONAL)
        for user in ("carol", "bob"):                    # carol personally, bob through office north
            [conv] = (await call(gw, user, "inbox_list"))["items"]
            assert conv["inbox"] == ["agent:carol", "office:north"]
        assert (await call(gw, "alice", "inbox_list"))["items"] == []       # office main does not see it
        assert not await sql(gw, "SELECT 1 FROM messages WHERE recipient = ?", JOHN)   # no intro configured


async def test_thread_shows_both_directions_with_status_reason_and_pages(tmp_path):
    async with gateway(tmp_path) as gw:
        await receive(gw, JOHN, "one")
        [conv] = (await call(gw, "alice", "inbox_list"))["items"]
        r1 = await call(gw, "alice", "inbox_reply", conversation_id=conv["id"], text="two")
        await receive(gw, JOHN, "three")
        r2 = await call(gw, "alice", "inbox_reply", conversation_id=conv["id"], text="four")

        def fail(tx):
            mq.set_state(tx, r2["message_id"], "failed", "rejected", error_code="ESME_RINVDSTADR",
                         error_text="invalid destination address")
        await gw.store.run(fail)
        full = await call(gw, "alice", "inbox_show", conversation_id=conv["id"])
        texts = [(m["direction"], m["text"], m["status"]) for m in full["messages"]]
        assert texts == [("in", "one", "received"), ("out", "Thanks! An agent will get back to you.", "pending"),
                         ("out", "two", "pending"), ("in", "three", "received"), ("out", "four", "failed")]
        assert full["messages"][-1]["error_text"] == "invalid destination address"
        assert full["messages"][2]["created_by"] == "alice" and r1["state"] == "queued"
        newest = await call(gw, "alice", "inbox_show", conversation_id=conv["id"], limit=2)
        assert [m["text"] for m in newest["messages"]] == ["three", "four"]
        older = await call(gw, "alice", "inbox_show", conversation_id=conv["id"], limit=2,
                           before=newest["next_before"])
        oldest = await call(gw, "alice", "inbox_show", conversation_id=conv["id"], limit=2, before=older["next_before"])
        assert [m["text"] for m in older["messages"]] == ["Thanks! An agent will get back to you.", "two"]
        assert [m["text"] for m in oldest["messages"]] == ["one"] and oldest["next_before"] is None


async def test_conversation_events_carry_the_office_at_once(tmp_path):
    async with gateway(tmp_path) as gw:
        events = Events(gw)
        await receive(gw, JOHN, "hi")
        assert events.types() == ["conversation.created", "conversation.message"]
        assert all(e.data["office"] == "main" for e in events.items)
        assert events.items[-1].data["text"] == "hi" and events.items[-1].data["section"] == "needs_attention"


async def test_other_offices_and_viewers_cannot_act(tmp_path):
    async with gateway(tmp_path) as gw:
        await receive(gw, JOHN, "hi")
        [conv] = (await call(gw, "vic", "inbox_list"))["items"]      # a viewer of office main reads it
        with pytest.raises(Refused) as e:
            await call(gw, "vic", "inbox_reply", conversation_id=conv["id"], text="x")
        assert e.value.code == "forbidden"
        with pytest.raises(Refused) as e:
            await call(gw, "bob", "inbox_show", conversation_id=conv["id"])
        assert e.value.code == "not_found"                         # other office: as if it did not exist
        with pytest.raises(Refused) as e:
            await call(gw, "bob", "inbox_tag", conversation_id=conv["id"], tag="x")
        assert e.value.code == "not_found"
        assert (await call(gw, "root", "inbox_show", conversation_id=conv["id"]))["conversation"]["id"] == conv["id"]


async def test_limited_users_see_only_unassigned_or_their_own(tmp_path):
    async with gateway(tmp_path) as gw:
        await receive(gw, JOHN, "hi")
        await receive(gw, "+14155550124", "hello")
        a, b = (await call(gw, "alice", "inbox_list"))["items"]
        await call(gw, "alice", "inbox_assign", conversation_id=a["id"], user="alice")
        seen = [c["id"] for c in (await call(gw, "lim", "inbox_list"))["items"]]
        assert seen == [b["id"]]
        await call(gw, "lim", "inbox_assign", conversation_id=b["id"], user="lim")     # taking it is fine
        with pytest.raises(Refused) as e:
            await call(gw, "lim", "inbox_assign", conversation_id=b["id"], user="alice")
        assert e.value.code == "forbidden"
        assert [c["id"] for c in (await call(gw, "alice", "inbox_list"))["items"]] == [a["id"], b["id"]]


async def test_changes_are_audited_with_who_did_them(tmp_path):
    async with gateway(tmp_path) as gw:
        await receive(gw, JOHN, "hi")
        [conv] = (await call(gw, "alice", "inbox_list"))["items"]
        await call(gw, "alice", "inbox_tag", conversation_id=conv["id"], tag="vip")
        with pytest.raises(Refused):
            await call(gw, "bob", "inbox_tag", conversation_id=conv["id"], tag="x")
        await gw.store.run(lambda tx: None)
        rows = await call(gw, "root", "audit")
        ops = [(r["user"], r["op"], r["ok"]) for r in rows]
        assert ("alice", "inbox_tag", True) in ops and ("bob", "inbox_tag", False) in ops


async def test_event_stream_filter_shows_conversation_events_only_to_their_office(tmp_path):
    from gatewayd.control.server import _visible
    from test_inbox_support import who

    async with gateway(tmp_path) as gw:
        events = Events(gw)
        await receive(gw, JOHN, "hi")                                   # office main
        await receive(gw, "+14155550124", "hi", to=PERSONAL)            # office north (+ carol personally)
        main = [e for e in events.items if e.data["office"] == "main"]
        north = [e for e in events.items if e.data["office"] == "north"]
        assert main and north
        assert all(_visible(who(gw, "alice"), e) for e in main) and not any(_visible(who(gw, "alice"), e) for e in north)
        assert all(_visible(who(gw, "bob"), e) for e in north) and not any(_visible(who(gw, "bob"), e) for e in main)
        assert all(e.data["inbox"] == ["agent:carol", "office:north"] for e in north)   # for personal inboxes
