"""The daemon in-process on the sim link, driven over its real Unix socket."""

from __future__ import annotations

import msgspec
import pytest
import trio

from gatewayd import protocol as P
from gatewayd.control.access import Principal, resolve
from gatewayd.control.handlers import dispatch
from gatewayd.config import AccessConfig
from gatewayd.models import Role
from support import AsyncClient, make_config, query, running, states, wait_until

pytestmark = pytest.mark.trio
FROM = "+14155550100"


def sim_config(tmp_path, *, rate: float, burst: int, daily_cap: int | None = None, **sim):
    """A sim link that delivers everything, with the given pacing; ``sim`` overrides link keys."""
    link = {"dlr_delay_s": 0.01, "delivered": 1.0, "undelivered": 0.0, "rejected": 0.0, **sim}
    lines = [f"{k} = {v}" for k, v in link.items()]
    cap = f"daily_cap = {daily_cap}" if daily_cap else ""
    text = "\n".join(['[[links]]', 'name = "sim"', 'kind = "sim"', *lines, '[[numbers]]', f'address = "{FROM}"',
                      'links = ["sim"]', f"rate = {rate}", f"burst = {burst}", cap])
    return make_config(tmp_path, text=text)


async def test_send_reaches_sim_and_receipt_confirms_delivery(tmp_path):
    async with running(make_config(tmp_path)) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        m = await c.call("send", **{"from": FROM, "to": "(415) 555-0123", "text": "Hello €"})
        assert m["recipient"] == "+14155550123" and m["state"] == "queued" and m["encoding"] == "gsm7"
        await wait_until(gw, lambda: states(gw).get("delivered") == 1)
        d = await c.call("get_message", message_id=m["id"])
        assert [h["state"] for h in d["history"]] == ["queued", "sending", "sent", "delivered"]
        assert d["segments"][0]["receipt_stat"] == "DELIVRD" and d["segments"][0]["carrier_id"]
        assert gw.links["sim"].link.submitted == 1


async def test_batch_with_bad_rows_reports_each_and_keeps_good_ones(tmp_path):
    async with running(make_config(tmp_path)) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        res = await c.call("send_batch", messages=[
            {"from": FROM, "to": "+14155550001", "text": "a", "key": "x1"},
            {"from": FROM, "to": "not a number", "text": "b"},
            {"from": "+19999999999", "to": "+14155550002", "text": "c"},
            {"from": FROM, "to": "+14155550003", "text": "d", "key": "x1"},
        ])
        assert (res["accepted"], res["duplicates"], res["rejected"]) == (1, 1, 2)
        codes = {it["index"]: it.get("code") for it in res["items"]}
        assert codes[1] == "invalid_number" and codes[2] == "unknown_number"


async def test_permanent_rejection_fails_with_reason(tmp_path):
    async with running(make_config(tmp_path)) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        m = await c.call("send", **{"from": FROM, "to": "+14155559990", "text": "x"})
        await wait_until(gw, lambda: states(gw).get("failed") == 1)
        d = await c.call("get_message", message_id=m["id"])
        assert d["message"]["error_code"].startswith("ESME_RINVDSTADR")


async def test_bad_requests_get_typed_errors_and_the_connection_survives(tmp_path):
    async with running(make_config(tmp_path)) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        await c.send_raw(b"{not json\n")
        assert (await c.line())["error"]["code"] == "bad_json"
        assert (await c.request("nosuchop"))["error"]["code"] == "unknown_op"
        r = await c.request("send", to="+14155550123")
        assert r["error"]["code"] == "bad_request" and "from" in r["error"]["message"] and r["id"] == c.n
        r = await c.request("get_message", message_id=424242)
        assert r["error"]["code"] == "not_found"
        assert (await c.call("hello"))["role"] == "admin"     # still usable


async def test_oversized_line_is_refused_and_closed(tmp_path):
    cfg = make_config(tmp_path)
    cfg = msgspec.structs.replace(cfg, control=msgspec.structs.replace(cfg.control, max_line_bytes=1000))
    async with running(cfg) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        await c.send_raw(b'{"op":"status","pad":"' + b"x" * 200_000)
        assert (await c.line())["error"]["code"] == "line_too_long"
        with pytest.raises((EOFError, trio.BrokenResourceError)):
            await c.line()
        c2 = await AsyncClient.connect(gw.socket_path)   # the daemon itself is fine
        assert "queue" in await c2.call("status")


async def test_roles_viewer_cannot_change_anything(tmp_path):
    async with running(make_config(tmp_path)) as gw:
        viewer = Principal("vic", 4242, Role.VIEWER)
        r = await dispatch(gw, viewer, P.Send(sender=FROM, to="+14155550123", text="x"))
        assert not r.ok and r.error.code == "forbidden"
        assert (await dispatch(gw, viewer, P.Status())).ok
        agent = Principal("ann", 4243, Role.AGENT)
        r = await dispatch(gw, agent, P.Backup(path=str(tmp_path / "b.db")))
        assert r.error.code == "forbidden"
        await gw.store.run(lambda tx: None)    # audit rows are posted with the next group commit
        audit = await dispatch(gw, Principal("root", 0, Role.ADMIN), P.AuditQuery())
        refused = [e for e in audit.result if not e.ok]
        assert {(e.user, e.op) for e in refused} >= {("vic", "send"), ("ann", "backup")}


async def test_access_resolution():
    acc = AccessConfig(agents=["root2"], viewers=[])
    assert resolve(0, acc).role is Role.ADMIN
    assert resolve(987654, acc) is None        # unknown users are refused


async def test_idempotent_send_returns_existing(tmp_path):
    async with running(make_config(tmp_path)) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        a = await c.call("send", **{"from": FROM, "to": "+14155550123", "text": "x", "key": "order-1"})
        b = await c.call("send", **{"from": FROM, "to": "+14155550123", "text": "x", "key": "order-1"})
        assert a["id"] == b["id"] and b["duplicate_of_key"] is True


async def test_per_recipient_order_under_throttling(tmp_path):
    """The sim throttles above 40/s; the link slows down as a whole and messages to one recipient
    still leave in the order they were queued."""
    cfg = sim_config(tmp_path, rate=10000, burst=200, window=50, max_tps=40, dlr_delay_s=0.05)
    async with running(cfg) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        msgs = [{"from": FROM, "to": f"+1415555{1000 + i % 10}", "text": f"n{i}"} for i in range(200)]
        await c.call("send_batch", messages=msgs)
        await wait_until(gw, lambda: states(gw).get("delivered") == 200, timeout=60)
        rows = query(gw, "SELECT m.recipient, m.id, s.submitted_at FROM messages m"
                         " JOIN segments s ON s.message_id = m.id ORDER BY m.recipient, m.id")
        by_rcpt: dict[str, list[float]] = {}
        for r in rows:
            by_rcpt.setdefault(r[0], []).append(r[2])
        for times in by_rcpt.values():
            assert times == sorted(times)
        events = query(gw, "SELECT data FROM events WHERE type = 'link.state'")
        assert any('"throttled"' in e[0] for e in events)


async def test_pacing_spreads_sends_at_the_number_rate(tmp_path):
    cfg = sim_config(tmp_path, rate=20, burst=5)
    async with running(cfg) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        await c.call("send_batch", messages=[{"from": FROM, "to": f"+1415555{2000 + i}", "text": "p"}
                                             for i in range(25)])
        await wait_until(gw, lambda: states(gw).get("queued", 0) == 0 and states(gw).get("sending", 0) == 0)
        times = sorted(r[0] for r in query(gw, "SELECT submitted_at FROM segments"))
        # 5 may go at once (burst), the other 20 at 20/s: at least ~1 s from first to last.
        assert times[-1] - times[0] >= 0.9


async def test_interactive_reply_overtakes_bulk_backlog(tmp_path):
    cfg = sim_config(tmp_path, rate=50, burst=5)
    async with running(cfg) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        await c.call("send_batch", messages=[{"from": FROM, "to": f"+1415555{3000 + i}", "text": "bulk",
                                              "priority": "bulk"} for i in range(200)])
        reply = await c.call("send", **{"from": FROM, "to": "+14155554000", "text": "agent reply",
                                        "priority": "interactive"})
        await wait_until(gw, lambda: query(gw, "SELECT state FROM messages WHERE id = ?",
                                           (reply["id"],))[0][0] in ("sent", "delivered"))
        sent_bulk = query(gw, "SELECT count(*) FROM messages WHERE priority = 0 AND state IN ('sent', 'delivered')")[0][0]
        # ahead of it: at most what was already claimed at the pace (a burst and a little)
        assert sent_bulk < 30


async def test_daily_cap_holds_the_rest_and_says_so(tmp_path):
    cfg = sim_config(tmp_path, rate=100, burst=10, daily_cap=3)
    async with running(cfg) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        await c.call("send_batch", messages=[{"from": FROM, "to": f"+1415555{5000 + i}", "text": "c"}
                                             for i in range(5)])
        await wait_until(gw, lambda: query(gw, "SELECT count(*) FROM events WHERE type = 'number.cap_reached'")[0][0] == 1)
        await wait_until(gw, lambda: states(gw).get("delivered") == 3)
        assert states(gw).get("queued") == 2
        st = await c.call("status")
        assert st["numbers"][0]["used_today"] == 3


async def test_disabled_number_ignores_its_queue(tmp_path):
    async with running(make_config(tmp_path)) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        res = await c.call("set_enabled", kind="number", name=FROM, enabled=False)
        assert res["enabled"] is False
        m = await c.call("send", **{"from": FROM, "to": "+14155550123", "text": "x"})
        assert m["state"] == "ignored"
        await c.call("set_enabled", kind="number", name=FROM, enabled=True)
        m = await c.call("send", **{"from": FROM, "to": "+14155550124", "text": "y"})
        assert m["state"] == "queued"


async def test_event_stream_resumes_from_cursor_across_restart(tmp_path):
    cfg = make_config(tmp_path)
    async with running(cfg) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        await c.call("send", **{"from": FROM, "to": "+14155550123", "text": "one"})
        await wait_until(gw, lambda: states(gw).get("delivered") == 1)
        sub = await AsyncClient.connect(gw.socket_path)
        await sub.call("subscribe", since=0, types=["message."])
        seen = []
        while len(seen) < 4:
            seen.append((await sub.line())["event"])
        assert [e["data"]["state"] for e in seen] == ["queued", "sending", "sent", "delivered"]
        cursor = seen[1]["cursor"]
        await sub.aclose()
    async with running(cfg) as gw:     # restart on the same state dir
        c = await AsyncClient.connect(gw.socket_path)
        await c.call("send", **{"from": FROM, "to": "+14155550124", "text": "two"})
        sub = await AsyncClient.connect(gw.socket_path)
        await sub.call("subscribe", since=cursor, types=["message."])
        got = []
        with trio.fail_after(10):
            while not (got and got[-1]["data"]["recipient"] == "+14155550124"
                       and got[-1]["data"]["state"] == "delivered"):
                got.append((await sub.line())["event"])
        cursors = [e["cursor"] for e in got]
        assert cursors == sorted(set(cursors)) and cursors[0] > cursor     # no repeats, no going back
        # the part missed while away is replayed first: "sent" and "delivered" of the first message
        assert [(e["data"]["recipient"], e["data"]["state"]) for e in got[:2]] == [
            ("+14155550123", "sent"), ("+14155550123", "delivered")]


async def test_reload_applies_rates_caps_and_access_live(tmp_path):
    cfg = make_config(tmp_path)
    async with running(cfg) as gw:
        number = msgspec.structs.replace(cfg.numbers[0], rate=3.0, burst=2, daily_cap=7)
        access = msgspec.structs.replace(cfg.access, viewers=["nobody-here"])
        gw.reload(msgspec.structs.replace(cfg, numbers=[number], access=access, log_level="debug"))
        c = await AsyncClient.connect(gw.socket_path)
        st = await c.call("status")
        assert (st["numbers"][0]["rate"], st["numbers"][0]["burst"], st["numbers"][0]["daily_cap"]) == (3.0, 2, 7)
        lane = gw.dispatcher.lanes[FROM]
        assert lane.bucket.rate == 3.0 and lane.bucket.burst == 2
        assert gw.cfg.access.viewers == ["nobody-here"]
        await gw.store.run(lambda tx: None)
        assert query(gw, "SELECT count(*) FROM events WHERE type = 'config.reloaded'")[0][0] == 1
