"""Issue 17 items 3-5 through the running daemon (scheduler, dispatcher, sim link) on trio's
autojump clock: the store's wall clock follows trio's virtual time, so a Sunday morning or a day
of frequency cap passes in a moment and every hold is released by the scheduler's own timers."""

from __future__ import annotations

import contextlib
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import trio

from gatewayd import config
from support import AsyncClient, wait_until

from test_campaign_kit import NUMBER, OTHER, cfg_text, running

pytestmark = pytest.mark.trio
CHI, LA, NY = ZoneInfo("America/Chicago"), ZoneInfo("America/Los_Angeles"), ZoneInfo("America/New_York")
DALLAS = "+12145550123"          # area code 214: Texas, America/Chicago
SF = "+14155550131"              # 415: California, America/Los_Angeles
TOLL_FREE = "+18005550100"       # 800: no state, every North American zone
HEADER = ["First Name", "Last Name", "Phone"]
OPT_OUT = " Reply STOP to opt out"


def cfg(tmp_path, extra: str = "") -> config.Config:
    return config.parse(cfg_text(tmp_path) + "\n" + extra)


class Wall:
    """The daemon's wall time = ``start`` + trio's virtual time since the test began + jumps.

    Read through the MockClock itself (the store's writer thread asks too). While every task
    waits on the writer thread, autojump moves to the next timer; a ticker bounds each such jump
    to ``tick_s``. ``jump`` skips idle hours at once (as if the daemon had idled through them):
    a test moves to just before an opening, then lets the scheduler's own timers release."""

    def __init__(self, gw, clock, start: dt.datetime) -> None:
        self.base, self.t0, self.clock, self.gw = start.timestamp(), clock.current_time(), clock, gw
        gw.store.clock = self.now

    def now(self) -> float:
        return self.base + (self.clock.current_time() - self.t0)

    def jump_to(self, when: dt.datetime) -> None:
        assert when.timestamp() >= self.now()
        self.base += when.timestamp() - self.now()
        self.gw.campaign_scheduler.wake()


@contextlib.asynccontextmanager
async def wall_clock(gw, clock, start: dt.datetime, tick_s: float = 1.0):
    wall = Wall(gw, clock, start)

    async def tick() -> None:
        while True:
            await trio.sleep(tick_s)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(tick)
        yield wall
        nursery.cancel_scope.cancel()


def rows(gw, sql: str, *args) -> list[dict]:
    import sqlite3

    conn = sqlite3.connect(str(gw.cfg.db_path))
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, args).fetchall()]
    finally:
        conn.close()


async def until(predicate, within_s: float) -> None:
    """Poll in virtual time (each step is a timer, so autojump never skips past the limit)."""
    with trio.fail_after(within_s):
        while not predicate():
            await trio.sleep(5)


async def launch(c: AsyncClient, name: str, script: str, list_name: str = "L", number: str = NUMBER, **fields) -> dict:
    return await c.call("campaign_create", fields={"name": name, "script": script, "list": list_name,
                                                   "number": number, **fields}, launch=True)


def local(ts: float, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, zone)


async def test_a_texas_recipient_on_a_sunday_morning_is_held_to_noon_local(tmp_path, autojump_clock):
    async with running(cfg(tmp_path)) as gw:
        async with wall_clock(gw, autojump_clock, dt.datetime(2026, 12, 6, 9, 57, tzinfo=CHI)) as wall:    # Sunday 09:57 in Dallas
            c = await AsyncClient.connect(gw.socket_path)
            await c.call("contacts_import", list="L", header=HEADER, rows=[["Tex", "A", DALLAS], ["Cal", "B", SF]])
            await c.call("script_create", name="s", steps=[{"text": "Sunday sale." + OPT_OUT}])
            camp = await launch(c, "sun", "s", hours="us")
            sent = lambda: {m["recipient"]: m for m in rows(gw, "SELECT * FROM messages WHERE campaign_id = ?",
                                                            camp["id"])}
            # 07:57 in San Francisco: federal 08:00 opens first there (10:00 Dallas time); Texas waits.
            await until(lambda: SF in sent(), 600)
            assert local(sent()[SF]["created_at"], LA).hour == 8 and DALLAS not in sent()
            held = {r["phone"]: r for r in await c.call("campaign_contacts", campaign_id=camp["id"])}
            assert "sending hours (us; TX; America/Chicago): held until Sun 2026-12-06 12:00" in held[DALLAS]["held_reason"]
            shown = await c.call("campaign_show", campaign_id=camp["id"])
            assert shown["held_by"] == {"sending hours": 1}
            wall.jump_to(dt.datetime(2026, 12, 6, 11, 55, tzinfo=CHI))
            await trio.sleep(240)
            assert DALLAS not in sent()                                          # 11:59: still held
            await until(lambda: DALLAS in sent(), 600)
            at = local(sent()[DALLAS]["created_at"], CHI)
            assert (at.date(), at.hour) == (dt.date(2026, 12, 6), 12)
            await until(lambda: sent()[DALLAS]["state"] == "delivered", 600)     # it really went out
            assert rows(gw, "SELECT held_reason FROM campaign_contacts WHERE campaign_id = ?", camp["id"]) == [
                {"held_reason": None}, {"held_reason": None}]


async def test_a_recipient_whose_zone_is_unknown_gets_the_strictest_window(tmp_path, autojump_clock):
    async with running(cfg(tmp_path)) as gw:
        async with wall_clock(gw, autojump_clock, dt.datetime(2026, 12, 7, 10, 30, tzinfo=NY)) as wall:         # Monday 10:30 in New York
            c = await AsyncClient.connect(gw.socket_path)
            await c.call("contacts_import", list="L", header=HEADER,
                         rows=[["Toll", "Free", TOLL_FREE], ["New", "York", "+12125550100"]])
            await c.call("script_create", name="s", steps=[{"text": "Hello." + OPT_OUT}])
            camp = await launch(c, "m", "s", hours="us")
            sent = lambda: {m["recipient"]: m["created_at"] for m in
                            rows(gw, "SELECT * FROM messages WHERE campaign_id = ?", camp["id"])}
            await until(lambda: "+12125550100" in sent(), 600)                   # New York: open, goes now
            assert TOLL_FREE not in sent()
            held = {r["phone"]: r["held_reason"] for r in await c.call("campaign_contacts", campaign_id=camp["id"])}
            assert "state unknown; zone unknown: all of 7 zone(s)" in held[TOLL_FREE]
            # Never "send anyway": it may go only when every US zone is inside the strictest state
            # window (10:00 Kentucky start in Honolulu = 15:00 in New York).
            wall.jump_to(dt.datetime(2026, 12, 7, 14, 50, tzinfo=NY))
            await trio.sleep(120)
            assert TOLL_FREE not in sent()                                       # 14:52 in New York
            await until(lambda: TOLL_FREE in sent(), 1800)
            assert local(sent()[TOLL_FREE], NY) >= dt.datetime(2026, 12, 7, 15, 0, tzinfo=NY)
            assert local(sent()[TOLL_FREE], ZoneInfo("Pacific/Honolulu")).hour == 10


async def test_held_recipients_are_released_in_order_and_spread_not_at_once(tmp_path, autojump_clock):
    async with running(cfg(tmp_path, "[hours]\nrelease_gap_s = 2.0")) as gw:
        async with wall_clock(gw, autojump_clock, dt.datetime(2026, 12, 7, 6, 0, tzinfo=LA)) as wall:           # Monday 06:00 in San Francisco
            c = await AsyncClient.connect(gw.socket_path)
            people = [[f"P{i}", "T", f"+1415555{2000 + i:04d}"] for i in range(20)]
            await c.call("contacts_import", list="L", header=HEADER, rows=people)
            await c.call("script_create", name="s", steps=[{"text": "Morning!" + OPT_OUT}])
            camp = await launch(c, "m", "s", hours="us")
            n = lambda: len(rows(gw, "SELECT id FROM messages WHERE campaign_id = ?", camp["id"]))
            await trio.sleep(60)
            assert n() == 0
            wall.jump_to(dt.datetime(2026, 12, 7, 7, 58, tzinfo=LA))
            await until(lambda: n() == 20, 1800)
            msgs = rows(gw, "SELECT m.id, m.created_at, m.recipient, c.id AS contact FROM messages m"
                            " JOIN contacts c ON c.phone = m.recipient WHERE campaign_id = ? ORDER BY m.id", camp["id"])
            eight = dt.datetime(2026, 12, 7, 8, 0, tzinfo=LA).timestamp()
            assert [m["contact"] for m in msgs] == sorted(m["contact"] for m in msgs)   # in the order they were held
            for k, m in enumerate(msgs):
                assert m["created_at"] >= eight + 2.0 * k                          # one gap apart, from 08:00
            assert msgs[-1]["created_at"] - msgs[0]["created_at"] >= 38.0         # spread, not a burst at 08:00:00
            first_sent = lambda: rows(gw, "SELECT message_id FROM message_history WHERE state = 'sending' ORDER BY rowid")
            await until(lambda: len(first_sent()) >= 20, 600)
            assert [r["message_id"] for r in first_sent()][:20] == [m["id"] for m in msgs]   # handed to the link in order


async def test_a_contact_is_capped_at_three_a_day_across_two_campaigns_and_numbers(tmp_path, autojump_clock):
    async with running(cfg(tmp_path, "[caps]\nper_day = 3")) as gw:
        async with wall_clock(gw, autojump_clock, dt.datetime(2026, 12, 7, 10, 0, tzinfo=LA)) as wall:
            c = await AsyncClient.connect(gw.socket_path)
            await c.call("contacts_import", list="L", header=HEADER, rows=[["Al", "A", SF]])
            await c.call("script_create", name="two", steps=[{"text": "one"}, {"text": "two"}])
            msgs = lambda: rows(gw, "SELECT * FROM messages WHERE recipient = ? ORDER BY id", SF)
            a = await launch(c, "a", "two")
            await until(lambda: len(msgs()) == 2, 600)
            b = await launch(c, "b", "two", number=OTHER)                        # another campaign, another number
            await until(lambda: len(msgs()) == 3, 600)
            await trio.sleep(120)
            assert len(msgs()) == 3                                              # the fourth waits
            cc = {r["phone"]: r for r in await c.call("campaign_contacts", campaign_id=b["id"])}
            assert cc[SF]["held_reason"].startswith("frequency cap (3 campaign messages in 24 h, limit 3 by caps.per_day)")
            assert (await c.call("campaign_show", campaign_id=b["id"]))["held_by"] == {"frequency cap": 1}
            first = msgs()[0]["created_at"]
            wall.jump_to(dt.datetime.fromtimestamp(first + 86400 - 120, LA))
            await trio.sleep(60)
            assert len(msgs()) == 3                                              # 23:59 after the first
            await until(lambda: len(msgs()) == 4, 600)
            fourth = msgs()[3]
            assert (fourth["campaign_id"], fourth["sender"]) == (b["id"], OTHER)
            assert fourth["created_at"] >= msgs()[0]["created_at"] + 86400       # rolling 24 h from the first
            assert a["id"] != b["id"]


async def test_a_capped_message_whose_ttl_ends_first_is_unreachable_with_the_reason(tmp_path, autojump_clock):
    async with running(cfg(tmp_path, "[caps]\nper_day = 1")) as gw:
        async with wall_clock(gw, autojump_clock, dt.datetime(2026, 12, 7, 10, 0, tzinfo=LA)):
            c = await AsyncClient.connect(gw.socket_path)
            await c.call("contacts_import", list="L", header=HEADER, rows=[["Al", "A", SF]])
            await c.call("script_create", name="s", steps=[{"text": "hello"}])
            await launch(c, "a", "s")
            msgs = lambda: rows(gw, "SELECT * FROM messages WHERE recipient = ? ORDER BY id", SF)
            await until(lambda: len(msgs()) == 1, 600)
            b = await launch(c, "b", "s", number=OTHER, ttl_s=1800)
            await until(lambda: len(msgs()) == 2, 3600)
            late = msgs()[1]
            assert late["state"] == "unreachable" and late["campaign_id"] == b["id"]
            assert "frequency cap" in late["error_text"] and "TTL ended" in late["error_text"]
            assert late["created_at"] >= msgs()[0]["created_at"] + 1800
            await until(lambda: rows(gw, "SELECT status FROM campaigns WHERE id = ?", b["id"])[0]["status"] == "finished",
                        600)


async def test_an_interactive_reply_step_is_not_capped(tmp_path):
    from gatewayd.campaigns import holds

    async with running(cfg(tmp_path, "[caps]\nper_day = 1")) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        await c.call("contacts_import", list="L", header=HEADER, rows=[["Al", "A", SF]])
        await c.call("script_create", name="s", steps=[{"text": "hello"}])
        await launch(c, "a", "s")
        await wait_until(gw, lambda: len(rows(gw, "SELECT id FROM messages WHERE recipient = ?", SF)) == 1)
        camp = rows(gw, "SELECT * FROM campaigns")[0]
        contact = rows(gw, "SELECT * FROM contacts")[0]
        verdicts = await gw.store.run(lambda tx: [holds.gate(tx, camp, contact, {}, source, gw.cfg)
                                                  for source in ("campaign", "assistant")])
        assert verdicts == [holds.HELD, None]


async def test_a_bitly_link_blocks_launch_and_a_warning_does_not(tmp_path):
    async with running(cfg(tmp_path)) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        await c.call("contacts_import", list="L", header=HEADER, rows=[["Al", "A", SF]])
        await c.call("script_create", name="short", steps=[{"text": "Deals at https://bit.ly/3xYz" + OPT_OUT}])
        await c.call("script_create", name="wine", steps=[{"text": "Wine tasting on Friday!" + OPT_OUT}])
        await c.call("script_create", name="bare", steps=[{"text": "Wine tasting on Friday!"}])
        d = await c.call("campaign_create", fields={"name": "d", "script": "short", "list": "L", "number": NUMBER,
                                                    "hours": "us"})
        blocked = [f for f in d["checks"] if f["severity"] == "blocker"]
        assert [f["check"] for f in blocked] == ["shortener"] and "bit.ly" in blocked[0]["message"]
        assert any("bit.ly is a public URL shortener" in r for r in d["not_ready"])
        r = await c.request("campaign_action", campaign_id=d["id"], action="launch")
        assert r["error"]["code"] == "not_ready" and "bit.ly" in r["error"]["message"]
        assert rows(gw, "SELECT count(*) AS n FROM messages")[0]["n"] == 0
        cost = [f for f in d["checks"] if f["check"] == "cost"]
        assert cost and "segment(s) per recipient" in cost[0]["message"]
        # A warning is shown and does not block.
        w = await c.call("campaign_create", fields={"name": "w", "script": "wine", "list": "L", "number": NUMBER,
                                                    "hours": "us"})
        assert [(f["check"], f["severity"]) for f in w["checks"] if f["severity"] != "info"] == [
            ("blocked_term", "warning")]
        assert w["not_ready"] == []
        assert (await c.call("campaign_action", campaign_id=w["id"], action="launch"))["status"] == "processing"
        # The "us" rule set requires opt-out language on the first message.
        n = await c.call("campaign_create", fields={"name": "n", "script": "bare", "list": "L", "number": NUMBER,
                                                    "hours": "us"})
        assert any(f["check"] == "opt_out" and f["severity"] == "blocker" for f in n["checks"])
        listed = {x["name"]: x for x in await c.call("campaign_list", status=["draft"])}
        assert listed["n"]["not_ready"] == n["not_ready"] and listed["d"]["checks"] == d["checks"]
        # Without a rule set that requires it, no opt-out check.
        n2 = await c.call("campaign_edit", campaign_id=n["id"], fields={"hours": "none"})
        assert not any(f["check"] == "opt_out" for f in n2["checks"])
        bad = await c.request("campaign_edit", campaign_id=n["id"], fields={"hours": "mars"})
        assert bad["error"]["code"] == "unknown_hours" and "us" in bad["error"]["message"]


async def test_content_check_severities_are_configurable(tmp_path):
    extra = '[content]\nshorteners = "warning"\nblocked_terms = "blocker"\nterms = ["wine"]\nopt_out = "off"'
    async with running(cfg(tmp_path, extra)) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        await c.call("contacts_import", list="L", header=HEADER, rows=[["Al", "A", SF]])
        await c.call("script_create", name="s", steps=[{"text": "Wine at bit.ly/x"}])
        d = await c.call("campaign_create", fields={"name": "d", "script": "s", "list": "L", "number": NUMBER,
                                                    "hours": "us"})
        assert sorted((f["check"], f["severity"]) for f in d["checks"] if f["severity"] != "info") == [
            ("blocked_term", "blocker"), ("shortener", "warning")]
        assert d["not_ready"] == ["content: step 1: 'wine' is a blocked term (content.terms)"]


async def test_gatewayctl_shows_the_checks_refuses_launch_and_lists_why_a_recipient_waits(tmp_path, capsys):
    from gatewayd import ctl

    async def run(*args: str) -> tuple[int, str, str]:
        code = await trio.to_thread.run_sync(ctl.main, ["--socket", gw.socket_path, *args])
        out = capsys.readouterr()
        return code, out.out, out.err

    async with running(cfg(tmp_path)) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        await c.call("contacts_import", list="L", header=HEADER, rows=[["Al", "A", SF]])
        await c.call("script_create", name="short", steps=[{"text": "Deals at bit.ly/3xYz. Reply STOP to opt out"}])
        code, out, _ = await run("campaign", "create", "--name", "d", "--script", "short", "--list", "L",
                                 "--from", NUMBER, "--hours", "us")
        cid = out.split()[0]
        code, out, _ = await run("campaign", "show", cid)
        assert "sending hours: us" in out and "not ready to launch:" in out
        assert "content: step 1: bit.ly is a public URL shortener" in out
        assert "segment(s) per recipient" in out
        code, _, err = await run("campaign", "launch", cid)
        assert code == 1 and "bit.ly" in err
        code, _, err = await run("campaign", "edit", cid, "--hours", "mars")
        assert code == 1 and "unknown sending-hours rule set 'mars'" in err
