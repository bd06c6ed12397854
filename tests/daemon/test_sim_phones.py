"""The simulated carrier's phones: they answer per message as people do (issue 18 item 6), and a
person can text us through ``sim_inbound`` on sim links only (issue 18 item 11)."""

from __future__ import annotations

import pytest
import trio

from gatewayd import config
from gatewayd.config import SimConfig
from gatewayd.links.base import OutSegment
from gatewayd.links.sim import SimLink
from gatewayd.models import Encoding
from support import AsyncClient, query, wait_until
from tests.fakes.smsc import RecordingSink

from test_campaign_kit import NUMBER, cfg_text, running

pytestmark = pytest.mark.trio
PHONE = "+14155552001"


def sim(**kw) -> SimLink:
    base = dict(name="sim", dlr_delay_s=1.0, delivered=1.0, undelivered=0.0, rejected=0.0, reply_share=1.0,
                reply_delay_s=5.0, reply_turn_s=30.0, replies=["Yes", "No", "Who is this?"], seed=3)
    base.update(kw)
    return SimLink(SimConfig(**base), RecordingSink())


_ids = iter(range(1, 10_000))


def msg(text: str, to: str = PHONE, sender: str = NUMBER) -> OutSegment:
    n = next(_ids)
    return OutSegment(segment_id=n, message_id=n, sender=sender, recipient=to, index=1, count=1, ref=0,
                      encoding=Encoding.GSM7, text=text)


async def replies_after(link: SimLink, seconds: float) -> list[tuple[str, str, str]]:
    await trio.sleep(seconds)
    return [(m.sender, m.recipient, m.text) for m in link.sink.messages]


async def test_a_phone_answers_each_campaign_not_once_per_run(autojump_clock):
    link = sim()
    async with trio.open_nursery() as nursery:
        await nursery.start(link.run)
        await link.submit(msg("Coming to the open day? YES or NO"))
        first = await replies_after(link, 6)
        assert len(first) == 1 and first[0][:2] == (PHONE, NUMBER)
        await trio.sleep(60)                                     # the next campaign, a minute later
        await link.submit(msg("Book your check-up? YES or NO"))
        both = await replies_after(link, 6)
        assert len(both) == 2 and both[1][:2] == (PHONE, NUMBER)
        nursery.cancel_scope.cancel()


async def test_our_response_to_a_reply_is_not_answered_so_nothing_loops(autojump_clock):
    link = sim()
    async with trio.open_nursery() as nursery:
        await nursery.start(link.run)
        await link.submit(msg("Coming? YES or NO"))
        await trio.sleep(6)
        # The assistant's next step, an agent's answer 20 s later: responses, not new turns.
        await link.submit(msg("Great, see you there! Anything we should know?"))
        await trio.sleep(20)
        await link.submit(msg("This is the open day team."))
        assert len(await replies_after(link, 60)) == 1
        # Well after the exchange, a new message opens a new turn.
        await link.submit(msg("Reminder: the open day is tomorrow"))
        assert len(await replies_after(link, 6)) == 2
        nursery.cancel_scope.cancel()


async def test_answers_are_per_message_repeatable_and_stop_after_an_opt_out(autojump_clock):
    async def run_once() -> list[str]:
        link = sim(replies=["Yes", "STOP", "Who is this?"], reply_turn_s=0.0)
        async with trio.open_nursery() as nursery:
            await nursery.start(link.run)
            for i in range(12):
                await link.submit(msg(f"Step {i}", to="+14155552099"))
                await trio.sleep(10)
            nursery.cancel_scope.cancel()
        return [m.text for m in link.sink.messages]

    texts = await run_once()
    assert await run_once() == texts                       # same seed, same messages: same answers
    assert "STOP" in texts and texts[-1] == "STOP"         # after STOP the phone never writes again
    assert 2 <= len(texts) < 12


async def test_nobody_answers_an_alphanumeric_sender_or_a_phone_driven_by_hand(autojump_clock):
    link = sim()
    async with trio.open_nursery() as nursery:
        await nursery.start(link.run)
        await link.submit(msg("Your code is 4711", sender="ACME"))
        assert await replies_after(link, 10) == []
        # A person takes a phone over before its simulated answer is due: only theirs arrives.
        await link.submit(msg("Coming? YES or NO", to="+14155552003"))
        await trio.sleep(1)
        mine = await link.inject("+14155552003", NUMBER, "Who is this?")
        assert await replies_after(link, 10) == [("+14155552003", NUMBER, "Who is this?")] and mine.text
        link.sink.messages.clear()
        injected = await link.inject("+14155552002", NUMBER, "Do you open on Saturday?")
        assert injected.text == "Do you open on Saturday?" and link.sink.messages == [injected]
        await link.submit(msg("We do, 9 to 1!", to="+14155552002"))
        await trio.sleep(120)
        await link.submit(msg("Spring offer for you", to="+14155552002"))
        assert len(await replies_after(link, 10)) == 1        # only the injected message
        nursery.cancel_scope.cancel()


# ---- through the daemon ---------------------------------------------------------------------

SIM = 'reply_share = 1.0\nreply_delay_s = 0.05\nreply_turn_s = 0.3\nreplies = ["Yes"]'
HEADER = ["First Name", "Last Name", "Phone"]
PEOPLE = [[f"P{i}", "Test", f"+1415555{3000 + i:04d}"] for i in range(5)]


async def test_a_second_interactive_campaign_gets_its_replies(tmp_path):
    cfg = config.parse(cfg_text(tmp_path, sim=SIM))
    async with running(cfg) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        await c.call("contacts_import", list="L", header=HEADER, rows=PEOPLE)
        await c.call("script_create", name="rsvp", type="interactive",
                     steps=[{"text": "Hi {first_name}, coming Friday? YES or NO", "question": "yes_no"},
                            {"text": "Thanks, noted!"}])
        answered = "SELECT count(*) FROM answers WHERE campaign_id = ? AND valid = 1 AND value = 'yes'"
        for name in ("first", "second"):
            camp = await c.call("campaign_create", fields={"name": name, "script": "rsvp", "list": "L",
                                                           "number": NUMBER, "operated_by": "assistant"},
                                launch=True)
            await wait_until(gw, lambda: query(gw, answered, (camp["id"],))[0][0] == len(PEOPLE))
            # The assistant's "Thanks, noted!" went out and was not answered (a response, not a turn).
            await wait_until(gw, lambda: query(gw, "SELECT count(*) FROM messages WHERE campaign_id = ? AND step = 2"
                                                   " AND state = 'delivered'", (camp["id"],))[0][0] == len(PEOPLE))
            await trio.sleep(0.5)
            assert query(gw, "SELECT count(*) FROM inbound WHERE campaign_id = ?", (camp["id"],))[0][0] == len(PEOPLE)


ON_SMPP = """
[[links]]
name = "carrier"
kind = "smpp"
host = "127.0.0.1"
port = 9
system_id = "x"
password = "x"
reconnect_min_s = 60
isolated = false
[[numbers]]
address = "+14155550777"
links = ["carrier"]
office = "main"
"""


async def test_sim_inbound_reaches_the_inbox_and_is_refused_off_sim_links(tmp_path):
    cfg = config.parse(cfg_text(tmp_path, sim="reply_share = 0.0") + ON_SMPP)
    async with running(cfg) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        got = await c.call("sim_inbound", **{"from": "(415) 555-2010", "to": NUMBER,
                                             "text": "Hi, do you take new patients?"})
        assert (got["from"], got["to"], got["link"]) == ("+14155552010", NUMBER, "sim")
        page = await c.call("inbox_list")
        [conv] = page["items"]
        assert conv["id"] == got["conversation_id"] and conv["phone"] == "+14155552010"
        assert conv["needs_attention"] and conv["last_text"] == "Hi, do you take new patients?"
        stop = await c.call("sim_inbound", **{"from": "+14155552011", "to": "(415) 555-0199", "text": "STOP"})
        assert stop["keyword"] == "STOP"
        assert await c.call("suppressions", phone="+14155552011")

        for fields, code in (({"to": "+14155550777"}, "not_sim"), ({"link": "carrier"}, "bad_request"),
                             ({"to": "+19995550000"}, "unknown_number"), ({"from": "12"}, "invalid_number"),
                             ({"text": ""}, "empty_text"), ({"link": "nosuch"}, "not_found")):
            req = {"from": "+14155552012", "to": NUMBER, "text": "hello", **fields}
            r = await c.request("sim_inbound", **req)
            assert not r["ok"] and r["error"]["code"] == code, (fields, r)
        r = await c.request("sim_inbound", **{"from": "+14155552012", "to": "+14155550777", "text": "x"})
        assert "sim links only" in r["error"]["message"]
        assert (await c.call("hello"))["user"]                 # the connection is still usable
        assert query(gw, "SELECT count(*) FROM inbound WHERE sender = '+14155552012'") == [(0,)]
