"""Issue 18.2: opt-outs of scope ``all`` (and of a number) stop direct sends too; a send marked
transactional goes anyway and the audit log says so; a campaign-scoped opt-out does not."""

from __future__ import annotations

import pytest

from support import AsyncClient, wait_until

from test_campaign_daemon import count, peek
from test_campaign_kit import NUMBER, OTHER, make_cfg, running

pytestmark = pytest.mark.trio
PHONE = "+14155552000"


def state(gw, mid: int) -> str:
    return peek(gw).execute("SELECT state FROM messages WHERE id = ?", (mid,)).fetchall()[0][0]


async def send(c: AsyncClient, sender: str = NUMBER, **kw) -> dict:
    return await c.call("send", **{"from": sender, "to": "(415) 555-2000", "text": "hello", **kw})


async def test_scope_all_blocks_direct_sends_unless_transactional(tmp_path):
    async with running(make_cfg(tmp_path)) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        await c.call("opt_out", phone=PHONE, scope="all", reason="asked on the phone")
        blocked = await send(c)
        assert blocked["state"] == "unreachable"
        assert "opted out of every message from our numbers: asked on the phone" in blocked["error_text"]
        batch = await c.call("send_batch", messages=[{"from": OTHER, "to": PHONE, "text": "b1"},
                                                     {"from": NUMBER, "to": PHONE, "text": "b2", "transactional": True}])
        [b1, b2] = [it["message_id"] for it in batch["items"]]
        code = await send(c, text="Your code is 4711", transactional=True)
        assert code["state"] == "queued"
        await wait_until(gw, lambda: state(gw, code["id"]) == "delivered" and state(gw, b2) == "delivered")
        assert state(gw, blocked["id"]) == "unreachable" and state(gw, b1) == "unreachable"
        audit = await c.call("audit", limit=10)
        targets = [a["target"] for a in audit if a["op"] in ("send", "send_batch")]
        assert any("transactional=True" in t and "Your code" in t for t in targets)
        assert any("messages=[2]" in t and "transactional=1" in t for t in targets)
        assert not any("transactional=" in t for t in targets if "text=hello" in t)


async def test_scope_number_blocks_that_number_and_scope_campaign_blocks_no_direct_send(tmp_path):
    async with running(make_cfg(tmp_path)) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        await c.call("opt_out", phone=PHONE, scope="number", number=NUMBER)
        assert (await send(c))["state"] == "unreachable"
        other = await send(c, sender=OTHER)
        assert other["state"] == "queued"
        await c.call("opt_in", phone=PHONE)
        await c.call("contacts_import", list="L", header=["Phone"], rows=[[PHONE]])
        await c.call("script_create", name="s", steps=[{"text": "hi"}])
        camp = await c.call("campaign_create", fields={"name": "c", "script": "s", "list": "L", "number": NUMBER})
        await c.call("opt_out", phone=PHONE, scope="campaign", campaign_id=camp["id"])
        assert (await send(c))["state"] == "queued"


async def test_an_automatic_unsubscribe_blocks_direct_sends(tmp_path):
    async with running(make_cfg(tmp_path)) as gw:
        c = await AsyncClient.connect(gw.socket_path)

        def unsubscribe(tx):
            from gatewayd.contacts import suppression
            for cid in range(1, 8):
                suppression.record_failure(tx, PHONE, cid, 7)

        await gw.store.run(unsubscribe)
        assert count(gw, "SELECT count(*) FROM suppressions WHERE phone = ? AND source = 'auto'", PHONE) == 1
        r = await send(c)
        assert r["state"] == "unreachable" and "failed in 7 different campaigns" in r["error_text"]
