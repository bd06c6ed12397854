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
import trio.testing

from gatewayd.links.smpp import codec
from support import AsyncClient, make_config, query, running, states, wait_until
from tests.fakes.smsc import Behaviour, FakeSmsc

pytestmark = pytest.mark.trio
FROM = "+14155550100"
#: No virtual deadline on waits: the store commits in a thread, and while every task waits for it the
#: autojump clock would jump straight to a deadline. pytest-timeout bounds the test in real time.
LONG = math.inf


@pytest.fixture
def settled_clock():
    """Virtual time for tests where rates matter: it jumps only once nothing ran for 10 ms of
    real time, so it does not race ahead while a commit is in the store's thread."""
    return trio.testing.MockClock(autojump_threshold=0.01)


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


def metric(gw, name: str, link: str = "carrier") -> float | None:
    for line in gw.metrics.render().decode().splitlines():
        if line.startswith(f'{name}{{link="{link}"}} '):
            return float(line.split()[-1])
    return None


async def send_many(client, n: int, prefix: str = "m") -> None:
    await client.call("send_batch", messages=[{"from": FROM, "to": f"+1415555{1000 + i:04d}", "text": f"{prefix}{i}"}
                                              for i in range(n)])


async def test_the_learned_rate_survives_a_rebind_and_a_restart_and_shows_in_status_and_metrics(
        tmp_path, monkeypatch, settled_clock):
    smsc = FakeSmsc(Behaviour(tps=50, limit="fixed", dlr_delay=None))
    async with gateway(tmp_path, monkeypatch, smsc) as (gw, client):
        assert (await client.call("status"))["links"][0]["rate"] is None      # nothing learned yet
        await send_many(client, 300)
        await wait_until(gw, lambda: states(gw).get("sent") == 300, timeout=LONG)
        lr = gw.links["carrier"]
        learned = lr.flow.rate
        assert learned is not None and 40 <= learned <= 55           # what the carrier allows, near enough
        assert states(gw).get("failed") is None and smsc.throttled > 0

        await smsc.drop()                                             # the SMSC cuts the bind
        await wait_until(gw, lambda: len(smsc.binds) == 2 and lr.link.is_up, timeout=LONG)
        assert lr.flow.rate == learned                                # a rebind keeps it

        await gw.refresh_metrics()
        assert metric(gw, "gatewayd_link_rate_limit") == pytest.approx(learned)
        assert metric(gw, "gatewayd_link_throttles_total") == smsc.throttled
        status = (await client.call("status"))["links"][0]
        assert status["rate"] == pytest.approx(learned) and status["max_rate"] is None
        await wait_until(gw, lambda: query(gw, "SELECT count(*) FROM link_flow")[0][0] == 1, timeout=LONG)
        last = lr.flow.rate
    stored = query(gw, "SELECT rate FROM link_flow WHERE link = 'carrier'")[0][0]
    assert stored == pytest.approx(last, abs=0.01)      # saved again on the way out

    smsc2 = FakeSmsc(Behaviour(tps=50, limit="fixed", dlr_delay=None))
    async with gateway(tmp_path, monkeypatch, smsc2) as (gw, client):   # a restart, same state
        assert gw.links["carrier"].flow.rate == pytest.approx(stored)
        assert (await client.call("status"))["links"][0]["rate"] == pytest.approx(stored)
        await send_many(client, 100, "again")
        await wait_until(gw, lambda: states(gw).get("sent") == 400, timeout=LONG)
        assert smsc2.throttled <= 10     # it started at the learned rate, not with a burst into the limit


async def test_max_rate_caps_the_learned_rate(tmp_path, monkeypatch, settled_clock):
    smsc = FakeSmsc(Behaviour(dlr_delay=None))                    # the carrier would take anything
    async with gateway(tmp_path, monkeypatch, smsc, link="max_rate = 20") as (gw, client):
        await send_many(client, 100)
        await wait_until(gw, lambda: states(gw).get("sent") == 100, timeout=LONG)
        assert gw.links["carrier"].flow.rate == 20
        status = (await client.call("status"))["links"][0]
        assert status["rate"] == 20 and status["max_rate"] == 20
    times = smsc.accepted_times
    assert (len(times) - 1) / (times[-1] - times[0]) <= 21        # paced at the cap, not above it


async def test_queue_full_narrows_the_window_and_it_grows_back(tmp_path, monkeypatch, settled_clock):
    smsc = FakeSmsc(Behaviour(max_in_flight=3, response_delay=0.05, dlr_delay=None))
    async with gateway(tmp_path, monkeypatch, smsc, window=10) as (gw, client):
        lr = gw.links["carrier"]
        await send_many(client, 150)
        await wait_until(gw, lambda: lr.current_window <= 3, timeout=LONG)
        status = (await client.call("status"))["links"][0]
        assert status["window"] <= 3 and status["max_window"] == 10       # what gatewayctl status shows
        await wait_until(gw, lambda: states(gw).get("sent") == 150, timeout=LONG)
        assert states(gw).get("failed") is None
        assert smsc.throttled > 0 and smsc.max_unanswered <= 10
        assert query(gw, "SELECT max(attempts) FROM messages")[0][0] == 1     # queue-full is never an attempt

        smsc.b.max_in_flight = None                     # the SMSC's queue drains: the window comes back
        await send_many(client, 400, "more")
        await wait_until(gw, lambda: lr.current_window == 10 or states(gw).get("sent") == 550, timeout=LONG)
        assert lr.current_window == 10
        await gw.refresh_metrics()
        assert metric(gw, "gatewayd_link_window") == 10


async def test_a_burst_of_timeouts_fails_nothing_and_slows_the_link(tmp_path, monkeypatch, settled_clock):
    smsc = FakeSmsc(Behaviour(silent=True, dlr_delay=None))       # takes submits, answers none
    async with gateway(tmp_path, monkeypatch, smsc, window=5, queue="max_attempts = 1",
                       link="response_timeout_s = 5") as (gw, client):
        lr = gw.links["carrier"]
        await send_many(client, 20)
        await wait_until(gw, lambda: query(gw, "SELECT count(*) FROM messages WHERE possible_duplicate = 1")[0][0]
                         >= 5, timeout=LONG)
        assert lr.flow.rate is not None and lr.flow.cuts >= 1          # slowed like a throttle answer
        assert states(gw).get("failed") is None
        smsc.b.silent = False
        await wait_until(gw, lambda: states(gw).get("sent") == 20, timeout=LONG)
        assert states(gw).get("failed") is None
        flagged = query(gw, "SELECT count(*) FROM messages WHERE possible_duplicate = 1 AND attempts = 1")[0][0]
        assert flagged >= 5              # sent once more, flagged: the carrier may have had them already


async def test_periodic_storms_fail_nothing(tmp_path, monkeypatch, settled_clock):
    smsc = FakeSmsc(Behaviour(tps=100, storm_every=4.0, storm_s=2.0, dlr_delay=None))
    async with gateway(tmp_path, monkeypatch, smsc) as (gw, client):
        await send_many(client, 600)
        await wait_until(gw, lambda: states(gw).get("sent") == 600, timeout=LONG)
        assert states(gw).get("failed") is None and smsc.throttled > 0
        assert query(gw, "SELECT max(attempts) FROM messages")[0][0] == 1
