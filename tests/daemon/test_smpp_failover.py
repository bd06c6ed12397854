"""Routing and failover between SMPP links, through the whole daemon (links in their worker
processes, as operators run them) against two fake SMSCs on loopback TCP.

What an operator would notice: traffic stays on the first link while it is healthy, moves to the
second when the first goes down, comes back when it recovers, with nothing lost and nothing sent
twice; a link that drops mid-flight has only what it may really have received retried, flagged;
``routing = "weight"`` shares traffic by weight.
"""

from __future__ import annotations

from collections import Counter
from contextlib import asynccontextmanager
from functools import partial

import pytest
import trio

from gatewayd.links.smpp import codec
from gatewayd.models import LinkState
from support import AsyncClient, make_config, query, running, states, wait_until
from tests.fakes.smsc import Behaviour, FakeSmsc

pytestmark = pytest.mark.trio
FROM = "+14155550100"


def _texts(smsc: FakeSmsc) -> list[str]:
    return [p.get("short_message", b"").decode("latin-1") for p in smsc.submits]


@asynccontextmanager
async def two_links(tmp_path, *, routing: str = "order", weights=(1, 1), window: int = 10,
                    behaviours=(None, None)):
    smscs = [FakeSmsc(b or Behaviour(dlr_delay=0.0)) for b in behaviours]
    with trio.fail_after(90):
        async with trio.open_nursery() as nursery:
            ports = []
            for smsc in smscs:
                await nursery.start(smsc.run)
                ports.append(await nursery.start(partial(smsc.serve_tcp, 0, host="127.0.0.1")))
            lines = []
            for name, port, weight in zip("ab", ports, weights):
                lines += ["[[links]]", f'name = "{name}"', 'kind = "smpp"', 'host = "127.0.0.1"', f"port = {port}",
                          f'system_id = "gw-{name}"', 'password = "pw"', f"window = {window}", f"weight = {weight}",
                          "reconnect_min_s = 0.2", "reconnect_max_s = 0.5", "response_timeout_s = 2"]
            lines += ["[[numbers]]", f'address = "{FROM}"', 'links = ["a", "b"]', f'routing = "{routing}"',
                      "rate = 10000", "burst = 1000"]
            async with running(make_config(tmp_path, text="\n".join(lines))) as gw:
                await wait_until(gw, lambda: all(lr.link.is_up for lr in gw.links.values()))
                client = await AsyncClient.connect(gw.socket_path)
                yield gw, client, smscs
            nursery.cancel_scope.cancel()


async def send(client, prefix: str, n: int) -> None:
    await client.call("send_batch", messages=[{"from": FROM, "to": f"+1415555{1000 + i:04d}", "text": f"{prefix}{i:03d}"}
                                              for i in range(n)])


async def test_order_routing_fails_over_and_returns_with_nothing_lost_or_sent_twice(tmp_path):
    async with two_links(tmp_path) as (gw, client, (a, b)):
        await send(client, "first", 8)             # under the window: no spill-over
        await wait_until(gw, lambda: states(gw).get("delivered") == 8)
        assert len(a.submits) == 8 and not b.submits

        a.b.bind_status = codec.RBINDFAIL            # the carrier takes link a away and refuses it back
        await a.unbind()
        await wait_until(gw, lambda: gw.links["a"].status.state is LinkState.DOWN)
        await send(client, "second", 8)
        await wait_until(gw, lambda: states(gw).get("delivered") == 16)
        assert [t for t in _texts(b) if t.startswith("second")] == [f"second{i:03d}" for i in range(8)]
        assert not [t for t in _texts(a) if t.startswith("second")]

        a.b.bind_status = codec.ROK                  # a recovers: traffic returns to it
        await wait_until(gw, lambda: gw.links["a"].link.is_up)
        await send(client, "third", 8)
        await wait_until(gw, lambda: states(gw).get("delivered") == 24)
        assert [t for t in _texts(a) if t.startswith("third")] == [f"third{i:03d}" for i in range(8)]

        both = Counter(_texts(a) + _texts(b))
        assert len(both) == 24 and set(both.values()) == {1}          # every message once, none twice
        assert query(gw, "SELECT count(*) FROM messages WHERE possible_duplicate = 1") == [(0,)]


async def test_a_link_dropped_mid_flight_retries_only_what_it_may_have_received_flagged(tmp_path):
    slow = Behaviour(dlr_delay=0.0, response_delay=30.0)        # a holds every answer: 10 stay in flight
    async with two_links(tmp_path, behaviours=(slow, None)) as (gw, client, (a, b)):
        await send(client, "m", 30)
        await a.wait_for(lambda: len(a.submits) == 10)            # the window is full, 20 wait behind it
        a.b.bind_status = codec.RBINDFAIL
        await a.drop()
        await wait_until(gw, lambda: states(gw).get("delivered") == 30, timeout=60)
        reached_a = set(_texts(a))
        assert len(reached_a) == 10
        assert Counter(_texts(b)) == Counter(f"m{i:03d}" for i in range(30))   # all of them went out via b
        flagged = {r[0] for r in query(gw, "SELECT text FROM messages WHERE possible_duplicate = 1")}
        assert flagged == reached_a       # only what a may have received is a possible duplicate


async def test_weight_routing_shares_traffic_by_weight(tmp_path):
    async with two_links(tmp_path, routing="weight", weights=(3, 1), window=5) as (gw, client, (a, b)):
        for burst in range(20):
            await send(client, f"w{burst:02d}-", 20)
        await wait_until(gw, lambda: states(gw).get("delivered") == 400, timeout=60)
        share = len(a.submits) / (len(a.submits) + len(b.submits))
        assert len(a.submits) + len(b.submits) == 400
        assert 0.7 <= share <= 0.8, share          # 3:1 is 0.75
