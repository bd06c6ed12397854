"""Triage: sections, replies ahead of bulk, tags, search, read/unread, assignment, toggles, opt-out."""

from __future__ import annotations

import re

import pytest

from gatewayd import protocol as P
from gatewayd.inbox import triage
from gatewayd.models import Priority
from gatewayd.store import messages as mq
from test_inbox_support import (MAIN, Events, Refused, call, campaign, contact, gateway, receive, sent_step, sql,
                                who)

pytestmark = pytest.mark.trio
JOHN = "+14155550123"


async def _conv(gw, phone=JOHN, text="hi", to=MAIN) -> dict:
    row = await receive(gw, phone, text, to=to)
    return (await call(gw, "alice", "inbox_show", conversation_id=row["conversation_id"]))["conversation"]


async def test_reply_goes_out_ahead_of_queued_campaign_bulk(tmp_path):
    async with gateway(tmp_path) as gw:
        cid = await campaign(gw)
        await sent_step(gw, cid, await contact(gw, JOHN), JOHN)
        conv = await _conv(gw)

        def bulk(tx):
            mq.enqueue(tx, [mq.NewMessage(sender=MAIN, recipient=f"+1415555{i:04d}", text="promo",
                                          priority=Priority.BULK, source="campaign") for i in range(200, 260)])
        await gw.store.run(bulk)
        r = await call(gw, "alice", "inbox_reply", conversation_id=conv["id"], text="Hello John")
        claimed = await gw.store.run(mq.claim, MAIN, 1)
        assert [m.id for m in claimed] == [r["message_id"]]        # 60 bulk messages were queued first
        m = (await sql(gw, "SELECT priority, source, created_by, conversation_id FROM messages WHERE id = ?",
                       r["message_id"]))[0]
        assert m == {"priority": 2, "source": "agent", "created_by": "alice", "conversation_id": conv["id"]}


async def test_reply_clears_attention_marks_read_and_records_response_time(tmp_path, autojump_clock):
    async with gateway(tmp_path) as gw:
        clock = [1000.0]
        gw.store.clock = lambda: clock[0]
        cid = await campaign(gw)
        k = await contact(gw, JOHN)
        await sent_step(gw, cid, k, JOHN)
        conv = await _conv(gw, text="Can I bring a friend?")
        assert conv["section"] == "needs_attention" and conv["unread"] == 1
        clock[0] += 90
        await receive(gw, JOHN, "Hello?")                  # the clock runs from the first unanswered one
        clock[0] += 30
        await call(gw, "alice", "inbox_reply", conversation_id=conv["id"], text="Sure!")
        after = (await call(gw, "alice", "inbox_show", conversation_id=conv["id"]))["conversation"]
        assert (after["section"], after["unread"], after["last_direction"]) == ("agent", 0, "out")
        assert await sql(gw, "SELECT campaign_id, agent, seconds FROM response_times") == [
            {"campaign_id": cid, "agent": "alice", "seconds": 120.0}]
        await call(gw, "alice", "inbox_reply", conversation_id=conv["id"], text="See you")   # nothing awaited
        assert len(await sql(gw, "SELECT 1 FROM response_times")) == 1


async def test_tags_at_most_three_of_thirty_characters_and_filter(tmp_path):
    async with gateway(tmp_path) as gw:
        a = await _conv(gw, JOHN)
        b = await _conv(gw, "+14155550124")
        for t in ("vip", "follow up", "spanish"):
            res = await call(gw, "alice", "inbox_tag", conversation_id=a["id"], tag=t)
        assert res["tags"] == ["vip", "follow up", "spanish"]
        with pytest.raises(Refused) as e:
            await call(gw, "alice", "inbox_tag", conversation_id=a["id"], tag="fourth")
        assert e.value.code == "too_many_tags" and "remove one first" in e.value.message
        with pytest.raises(Refused) as e:
            await call(gw, "alice", "inbox_tag", conversation_id=b["id"], tag="x" * 31)
        assert e.value.code == "tag_too_long" and "at most 30" in e.value.message
        await call(gw, "alice", "inbox_tag", conversation_id=b["id"], tag="x" * 30)
        assert (await call(gw, "alice", "inbox_tag", conversation_id=a["id"], tag="VIP"))["tags"] == [
            "vip", "follow up", "spanish"]                             # same tag, any case: no-op
        await call(gw, "alice", "inbox_untag", conversation_id=a["id"], tag="spanish")
        await call(gw, "alice", "inbox_tag", conversation_id=a["id"], tag="billing")
        ids = lambda page: [c["id"] for c in page["items"]]  # noqa: E731
        assert ids(await call(gw, "alice", "inbox_list", tags=["billing"])) == [a["id"]]
        assert ids(await call(gw, "alice", "inbox_list", tags=["spanish"])) == []
        assert set(ids(await call(gw, "alice", "inbox_list", tags=["vip", "x" * 30]))) == {a["id"], b["id"]}


async def test_search_by_first_name_last_name_or_phone(tmp_path):
    async with gateway(tmp_path) as gw:
        cid = await campaign(gw)
        for phone, first, last in ((JOHN, "John", "Doe"), ("+14155550124", "Jane", "Smith"),
                                   ("+14155550125", "Johnny", "Appleseed")):
            k = await contact(gw, phone, first, last)
            await sent_step(gw, cid, k, phone)
            await receive(gw, phone, "hi")

        async def found(q):
            return sorted(c["first_name"] for c in (await call(gw, "alice", "inbox_list", search=q))["items"])
        assert await found("john") == ["John", "Johnny"]
        assert await found("smith") == ["Jane"]
        assert await found("john doe") == ["John"]
        assert await found("(415) 555-0124") == ["Jane"]
        assert await found("0125") == ["Johnny"]
        assert await found("Ja") == ["Jane"]                          # short terms: prefix
        assert await found("nobody") == []


async def test_sections_counts_and_toggles(tmp_path):
    async with gateway(tmp_path) as gw:
        events = Events(gw)
        cid = await campaign(gw, operated_by="assistant", steps=[{"text": "Coming?", "question": "yes_no"}])
        k = await contact(gw, JOHN)
        await sent_step(gw, cid, k, JOHN)
        conv = await _conv(gw, text="Yes")                         # the assistant handled it
        other = await _conv(gw, "+14155550124", "unsolicited")      # agent-operated, needs attention
        assert conv["section"] == "assistant"
        page = await call(gw, "alice", "inbox_list")
        assert page["counts"] == {"needs_attention": 1, "agent": 0, "assistant": 1}
        assert [c["id"] for c in (await call(gw, "alice", "inbox_list", section="assistant"))["items"]] == [conv["id"]]
        r = await call(gw, "alice", "inbox_operated_by", conversation_id=conv["id"], operated_by="agent")
        assert r["section"] == "agent"
        r = await call(gw, "alice", "inbox_attention", conversation_id=conv["id"], on=True)
        assert r["section"] == "needs_attention" and r["attention_reason"] == "flagged by alice"
        r = await call(gw, "alice", "inbox_attention", conversation_id=other["id"], on=False)
        assert r["section"] == "agent"
        with pytest.raises(Refused) as e:
            await call(gw, "alice", "inbox_operated_by", conversation_id=other["id"], operated_by="assistant")
        assert e.value.code == "no_script"
        r = await call(gw, "alice", "inbox_read", conversation_id=other["id"])
        assert r["unread"] == 0
        r = await call(gw, "alice", "inbox_read", conversation_id=other["id"], read=False)
        assert r["unread"] == 1
        assert (await call(gw, "alice", "inbox_list", unread_only=True))["items"][0]["id"] == other["id"]
        assert {"conversation.operated_by", "conversation.attention", "conversation.read"} <= set(events.types())


async def test_assign_moves_into_a_personal_inbox(tmp_path):
    async with gateway(tmp_path) as gw:
        conv = await _conv(gw)
        with pytest.raises(Refused) as e:   # bob works in another office: alice may not hand it to him
            await call(gw, "alice", "inbox_assign", conversation_id=conv["id"], user="bob")
        assert e.value.code == "forbidden"
        assert (await call(gw, "alice", "inbox_assign", conversation_id=conv["id"], user="lim"))["assignee"] == "lim"
        r = await call(gw, "root", "inbox_assign", conversation_id=conv["id"], user="bob")   # an admin may
        assert r["assignee"] == "bob"
        assert [c["id"] for c in (await call(gw, "bob", "inbox_list"))["items"]] == [conv["id"]]   # other office
        assert [c["id"] for c in (await call(gw, "alice", "inbox_list", assignee="bob"))["items"]] == [conv["id"]]
        with pytest.raises(Refused) as e:
            await call(gw, "alice", "inbox_assign", conversation_id=conv["id"], user="mallory")
        assert e.value.code == "unknown_user"
        assert (await call(gw, "alice", "inbox_assign", conversation_id=conv["id"]))["assignee"] is None


async def test_assignees_are_who_each_caller_may_assign_to(tmp_path):
    async with gateway(tmp_path) as gw:
        rows = await call(gw, "root", "inbox_assignees")
        assert [(a["user"], a["role"], a["offices"], a["limited"]) for a in rows] == [
            ("alice", "agent", ["main"], False), ("bob", "agent", ["north"], False), ("carol", "agent", [], False),
            ("lim", "agent", ["main"], True), ("root", "admin", [], False)]       # no viewer (vic)
        # non-admins: only people sharing an office; a limited user only themselves
        assert [a["user"] for a in await call(gw, "alice", "inbox_assignees")] == ["alice", "lim"]
        assert [a["user"] for a in await call(gw, "bob", "inbox_assignees")] == ["bob"]
        assert [a["user"] for a in await call(gw, "lim", "inbox_assignees")] == ["lim"]
        assert [a["user"] for a in await call(gw, "vic", "inbox_assignees")] == ["alice", "lim"]
        # everyone listed is accepted by inbox_assign, including root who is admin without being named
        conv = await _conv(gw)
        for a in rows:
            assert (await call(gw, "root", "inbox_assign", conversation_id=conv["id"], user=a["user"]))["assignee"] \
                == a["user"]
        with pytest.raises(Refused) as e:
            await call(gw, "root", "inbox_assign", conversation_id=conv["id"], user="vic")
        assert e.value.code == "unknown_user"
        # a read: no audit entries for listing
        assert not await sql(gw, "SELECT op FROM audit WHERE op = 'inbox_assignees'")


async def test_operator_opt_out_stops_replies(tmp_path):
    async with gateway(tmp_path) as gw:
        conv = await _conv(gw)
        try:
            import gatewayd.contacts.suppression  # noqa: F401
        except ImportError:
            pytest.skip("gatewayd.contacts.suppression (campaigns package) is not available")
        r = await call(gw, "alice", "inbox_opt_out", conversation_id=conv["id"])
        assert r["scope"] == "number"                              # no campaign: the number
        assert await sql(gw, "SELECT phone, scope, number, source FROM suppressions") == [
            {"phone": JOHN, "scope": "number", "number": MAIN, "source": "operator"}]
        with pytest.raises(Refused) as e:
            await call(gw, "alice", "inbox_reply", conversation_id=conv["id"], text="still there?")
        assert e.value.code == "opted_out"


async def test_search_is_answered_from_the_trigram_index_not_a_table_scan(tmp_path):
    async with gateway(tmp_path) as gw:
        def fill(tx):
            tx.db.executemany(
                "INSERT INTO conversations(number, phone, first_name, last_name, office, inbox, last_message_at,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, 'main', '[\"office:main\"]', ?, 0, 0)",
                [(MAIN, f"+1415556{i:04d}", f"Name{i}", "Rossi" if i % 500 == 0 else "Smith", float(i))
                 for i in range(5000)])
        await gw.store.run(fill)
        page = await call(gw, "alice", "inbox_list", search="rossi", limit=5)
        assert page["counts"]["agent"] == 10 and len(page["items"]) == 5
        assert [c["first_name"] for c in page["items"]] == ["Name4500", "Name4000", "Name3500", "Name3000", "Name2500"]
        assert [c["phone"] for c in (await call(gw, "alice", "inbox_list", search="556 1234"))["items"]] == [
            "+14155561234"]
        traced: list[str] = []

        def q(db):
            db.set_trace_callback(traced.append)
            try:
                return triage.list_page(db, who(gw, "alice"), P.InboxList(search="rossi"))
            finally:
                db.set_trace_callback(None)
        await gw.store.read(q)
        queries = [sql for sql in traced if sql.startswith("SELECT c.")]      # the counts and the page
        plans = await gw.store.read(lambda db: [
            " ".join(r[3] for r in db.execute("EXPLAIN QUERY PLAN " + sql)) for sql in queries])
        assert len(plans) == 2 and all("conversations_fts" in p and not re.search(r"SCAN c\b", p) for p in plans)


async def test_reply_from_a_disabled_number_is_refused_and_stays_unanswered(tmp_path):
    async with gateway(tmp_path) as gw:
        conv = await _conv(gw)
        gw.dispatcher.lanes[MAIN].enabled = False
        with pytest.raises(Refused) as e:
            await call(gw, "alice", "inbox_reply", conversation_id=conv["id"], text="hello")
        assert e.value.code == "number_disabled"
        after = (await call(gw, "alice", "inbox_show", conversation_id=conv["id"]))["conversation"]
        assert after["section"] == "needs_attention"
