"""Carrier flow control through the whole daemon (store, dispatcher, SMPP link in-process)
against the fake SMSC's carrier models, on trio's autojump clock: throttling never fails a
message, keeps it in its place and only its TTL ends it; the link learns the rate and keeps it
across a rebind and a restart, within ``max_rate``; ESME_RMSGQFUL narrows the window; a burst
of time-outs is flow control too.
"""

from __future__ import annotations

import math
from contextlib import asynccontextmanager

import pytest
import trio

from gatewayd.links.smpp import codec
from support import AsyncClient, make_config, query, running, states, wait_until
from tests.fakes.smsc import Behaviour, FakeSmsc

pytestmark = pytest.mark.trio
FROM = "+14155550100"
#: No virtual deadline on waits: the store commits in a thread, and while every task waits for it the
#: autojump clock would jump straight to a deadline. pytest-timeout bounds the test in real time.
LONG = math.inf


def config_text(*, window: int = 10, link: str = "", queue: str = "") -> str:
    # The SMSC is reached over memory streams (autojump clock): the link lives in this process,
    # and its keepalive and response timeout are long unless a test is about them.
    return "\n".join([
        "[queue]", queue,
        "[[links]]", 'name = "carrier"', 'kind = "smpp"', 'host = "smsc.test"', 'system_id = "gw"',
        'password = "pw"', f"window = {window}", "isolated = false", "enquire_link_s = 100000",
        "reconnect_min_s = 0.5", "reconnect_max_s = 1", link,
        "[[numbers]]", f'address = "{FROM}"', 'links = ["carrier"]', "rate = 100000", "burst = 100000",
    ])


@asynccontextmanager
async def gateway(tmp_path, monkeypatch, smsc: FakeSmsc, **cfg):
    monkeypatch.setattr("gatewayd.links.smpp.link.tcp_connect", smsc.connect)
    async with trio.open_nursery() as nursery:
        await nursery.start(smsc.run)
        async with running(make_config(tmp_path, text=config_text(**cfg))) as gw:
            await wait_until(gw, lambda: gw.links["carrier"].link.is_up, timeout=LONG)
            client = await AsyncClient.connect(gw.socket_path)
            yield gw, client
            await client.aclose()
        nursery.cancel_scope.cancel()


def texts(smsc: FakeSmsc, accepted_only: bool = True) -> list[str]:
    return [p.get("short_message", b"").decode() for p in smsc.submits]


def message(gw, mid: int) -> dict:
    row = query(gw, "SELECT state, attempts, possible_duplicate, error_code FROM messages WHERE id = ?", (mid,))[0]
    return dict(zip(("state", "attempts", "possible_duplicate", "error_code"), row))


async def test_a_message_throttled_a_thousand_times_is_delivered_once_the_carrier_lets_it(
        tmp_path, monkeypatch, autojump_clock):
    smsc = FakeSmsc(Behaviour(storm=True, dlr_delay=0.0))     # the carrier refuses everything
    async with gateway(tmp_path, monkeypatch, smsc, queue="max_attempts = 2") as (gw, client):
        first = await client.call("send", **{"from": FROM, "to": "+14155551234", "text": "first"})
        second = await client.call("send", **{"from": FROM, "to": "+14155551234", "text": "second"})
        await smsc.wait_for(lambda: smsc.throttled >= 1000)
        assert message(gw, first["id"])["state"] in ("queued", "sending")    # not failed, not counted
        assert message(gw, first["id"])["attempts"] == 0
        assert "second" not in texts(smsc)        # it waits behind the first (same recipient)
        smsc.b.storm = False
        await wait_until(gw, lambda: states(gw).get("delivered") == 2, timeout=LONG)
    m = message(gw, first["id"])
    assert m["state"] == "delivered" and m["attempts"] == 1 and not m["possible_duplicate"]
    sent = texts(smsc)
    assert sent.count("first") >= 1001 and sent.count("second") == 1
    assert sent.index("second") > len(sent) - 1 - sent[::-1].index("first")   # order kept
    deferred = query(gw, "SELECT count(*) FROM message_history WHERE message_id = ? AND detail LIKE 'deferred%'",
                     (first["id"],))[0][0]
    assert deferred >= 1000


async def test_only_its_ttl_ends_a_throttled_message(tmp_path, monkeypatch, autojump_clock):
    smsc = FakeSmsc(Behaviour(storm=True))
    async with gateway(tmp_path, monkeypatch, smsc, queue="max_attempts = 1") as (gw, client):
        m = await client.call("send", **{"from": FROM, "to": "+14155551234", "text": "x", "ttl_s": 1.0})
        await wait_until(gw, lambda: states(gw).get("expired") == 1, timeout=LONG)
        assert smsc.throttled >= 2
        assert message(gw, m["id"])["state"] == "expired"
        assert states(gw).get("failed") is None
