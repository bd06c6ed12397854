"""Campaigns through the running daemon's socket: launch, refusal, lifecycle, suspension, roles."""

from __future__ import annotations

import datetime as dt

import pytest
import trio

from gatewayd.control.access import Principal
from gatewayd.control.handlers import dispatch
from gatewayd import protocol as P
from gatewayd.links.base import LinkStatus
from gatewayd.models import LinkState, Role
from gatewayd.store.store import connect
from support import AsyncClient, wait_until

from test_campaign_kit import NUMBER, make_cfg, running

pytestmark = pytest.mark.trio
HEADER = ["First Name", "Last Name", "Phone", "City"]


def people(n: int, start: int = 0) -> list[list[str]]:
    return [[f"P{i}", "Test", f"+1415555{2000 + i:04d}", "SF" if i % 2 else ""] for i in range(start, start + n)]


_PEEK: dict[int, object] = {}


def peek(gw):
    """The test's own read-only connection (never the daemon's reader, which its threads use)."""
    if id(gw) not in _PEEK:
        _PEEK.clear()
        _PEEK[id(gw)] = connect(gw.cfg.db_path, readonly=True)
    return _PEEK[id(gw)]


def campaign_row(gw, cid: int) -> dict:
    return dict(peek(gw).execute("SELECT * FROM campaigns WHERE id = ?", (cid,)).fetchall()[0])


def count(gw, sql: str, *args) -> int:
    return peek(gw).execute(sql, args).fetchall()[0][0]   # fetchall: never leave a read snapshot open


def hold(gw) -> None:
    gw.links["sim"].window = 0


def release(gw) -> None:
    gw.links["sim"].window = 20
    gw.links["sim"].notify()


async def setup(c: AsyncClient, n: int = 20, steps=None) -> None:
    await c.call("contacts_import", list="L", header=HEADER, rows=people(n))
    await c.call("script_create", name="s", type="nudge",
                 steps=steps or [{"text": "Hi {first_name} from {city}"}], defaults={"city": "home"})


async def test_launch_now_sends_to_every_contact_and_finishes(tmp_path):
    async with running(make_cfg(tmp_path)) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        await setup(c)
        camp = await c.call("campaign_create", fields={"name": "hello", "script": "s", "list": "L", "number": NUMBER,
                                                       "tags": ["promo"]}, launch=True)
        assert camp["status"] == "processing" and camp["office"] == "main"
        await wait_until(gw, lambda: campaign_row(gw, camp["id"])["status"] == "finished")
        texts = {r[0] for r in peek(gw).execute("SELECT text FROM messages WHERE campaign_id = ?", (camp["id"],))}
        assert "Hi P1 from SF" in texts and "Hi P0 from home" in texts
        await wait_until(gw, lambda: count(gw, "SELECT count(*) FROM messages WHERE state = 'delivered'") == 20)
        rep = await c.call("campaign_report", campaign_id=camp["id"])
        assert rep["send_status"]["succeeded"] == 20 and rep["engagement"]["contacts_sent"] == 20
        assert rep["performance"]["segments"]["delivered_confirmed"] == 20
        shown = await c.call("campaign_show", campaign_id=camp["id"])
        assert shown["launched_at"] and shown["finished_at"] and shown["actions"] == ["view", "clone", "archive"]
        listed = await c.call("campaign_list", tag="promo", status=["finished"])
        assert [x["id"] for x in listed] == [camp["id"]]
        assert await c.call("campaign_list", search="nomatch") == []


async def test_launch_is_refused_with_every_reason(tmp_path):
    async with running(make_cfg(tmp_path)) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        await c.call("contacts_import", list="L", header=HEADER, rows=people(3))
        await c.call("contacts_import", list="empty", header=HEADER, rows=[])
        await c.call("script_create", name="needs", steps=[{"text": "Hi {first_name}, {city}; code {code}"}])
        draft = await c.call("campaign_create", fields={"name": "d", "script": "needs", "list": "L", "number": NUMBER})
        assert any("{city} is empty for 2 contact(s)" in r for r in draft["not_ready"])
        r = await c.request("campaign_action", campaign_id=draft["id"], action="launch")
        assert r["error"]["code"] == "not_ready"
        msg = r["error"]["message"]
        assert "{city} is empty for 2 contact(s): +14155552000, +14155552002" in msg
        assert "{code} is empty for 3 contact(s)" in msg
        # A default fixes a field; the draft can be edited, then it launches.
        await c.call("campaign_edit", campaign_id=draft["id"], fields={"defaults": {"city": "town", "code": "X"}})
        assert (await c.call("campaign_action", campaign_id=draft["id"], action="launch"))["status"] == "processing"
        empty = await c.call("campaign_create", fields={"name": "e", "list": "empty"})
        r = await c.request("campaign_action", campaign_id=empty["id"], action="launch")
        msg = r["error"]["message"]
        assert "no script chosen" in msg and "no contacts" in msg and "no number chosen" in msg
        r = await c.request("campaign_create", fields={"name": "x", "number": "+19995550000"})
        assert r["error"]["code"] == "unknown_number"


async def test_list_rows_carry_the_list_name_and_draft_readiness_in_a_fixed_number_of_queries(tmp_path):
    async with running(make_cfg(tmp_path)) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        await c.call("contacts_import", list="L", header=HEADER, rows=people(3))
        await c.call("script_create", name="needs", steps=[{"text": "Hi {first_name} of {city}"}])
        good = await c.call("campaign_create", fields={"name": "good", "script": "needs", "list": "L",
                                                       "number": NUMBER, "defaults": {"city": "town"}})
        bad = await c.call("campaign_create", fields={"name": "bad", "script": "needs", "list": "L", "number": NUMBER})
        bare = await c.call("campaign_create", fields={"name": "bare"})
        sent = await c.call("campaign_create", fields={"name": "sent", "script": "needs", "list": "L",
                                                       "number": NUMBER, "defaults": {"city": "x"}}, launch=True)

        statements: list[str] = []     # the reader's, minus the daemon's own background reads
        gw.store.reader.set_trace_callback(
            lambda sql: statements.append(sql) if any(t in sql for t in ("lists", "scripts", "list_members")) else None)
        try:
            rows = {r["name"]: r for r in await c.call("campaign_list")}
            first = len(statements)
            for i in range(5):      # five more drafts with the same needs: no more queries
                await c.call("campaign_create", fields={"name": f"more{i}", "script": "needs", "list": "L",
                                                        "number": NUMBER})
            statements.clear()
            assert len(await c.call("campaign_list")) == 9
            assert 0 < len(statements) == first <= 5, statements
        finally:
            gw.store.reader.set_trace_callback(None)

        assert {n: r["list"] for n, r in rows.items()} == {"good": "L", "bad": "L", "bare": None, "sent": "L"}
        assert rows["good"]["not_ready"] == []
        assert rows["bad"]["not_ready"] == ["field {city} is empty for 2 contact(s): +14155552000, +14155552002"
                                            " (fix the list or give a default)"]
        assert rows["bare"]["not_ready"] == ["no script chosen", "no contact list chosen", "no number chosen"]
        assert "not_ready" not in rows["sent"]                 # readiness is a draft's question
        for d in (good, bad, bare):                            # the same verdict as campaign_show's
            assert (await c.call("campaign_show", campaign_id=d["id"]))["not_ready"] == rows[d["name"]]["not_ready"]
        assert sent["id"] == rows["sent"]["id"]


async def test_lifecycle_actions_follow_the_status_table(tmp_path):
    async with running(make_cfg(tmp_path)) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        await setup(c)
        d = await c.call("campaign_create", fields={"name": "d", "script": "s", "list": "L", "number": NUMBER})
        r = await c.request("campaign_action", campaign_id=d["id"], action="resume")
        assert r["error"]["code"] == "bad_status" and "draft" in r["error"]["message"]
        clone = await c.call("campaign_action", campaign_id=d["id"], action="clone")
        assert clone["status"] == "draft" and clone["name"] == "d (copy)" and clone["id"] != d["id"]
        discarded = await c.call("campaign_action", campaign_id=clone["id"], action="archive")
        assert discarded["status"] == "archived" and discarded["status_reason"] == "discarded draft"
        assert (await c.request("campaign_action", campaign_id=clone["id"], action="launch"))["error"]["code"] == "bad_status"
        launched = await c.call("campaign_action", campaign_id=d["id"], action="launch")
        r = await c.request("campaign_edit", campaign_id=d["id"], fields={"name": "renamed"})
        assert r["error"]["code"] == "bad_status"
        assert launched["status"] in ("processing", "sending")
        await wait_until(gw, lambda: campaign_row(gw, d["id"])["status"] == "finished")
        stopped = await c.request("campaign_action", campaign_id=d["id"], action="stop")
        assert stopped["error"]["code"] == "bad_status"
        archived = await c.call("campaign_action", campaign_id=d["id"], action="archive")
        assert archived["status"] == "archived" and archived["actions"] == ["view", "clone"]


async def test_pause_holds_the_rest_and_resume_sends_each_contact_once(tmp_path):
    """Issue 18.1: a pause holds the queued window (still queued, not ignored), resume sends those
    same messages, and the report counts each recipient's step once."""
    async with running(make_cfg(tmp_path)) as gw:
        hold(gw)     # the link takes nothing, so the pause has a queue to hold
        c = await AsyncClient.connect(gw.socket_path)
        await setup(c, n=30)
        camp = await c.call("campaign_create", fields={"name": "p", "script": "s", "list": "L", "number": NUMBER},
                            launch=True)
        cid = camp["id"]
        await wait_until(gw, lambda: count(gw, "SELECT count(*) FROM messages WHERE campaign_id = ?", cid) == 30)
        ids_before = {r[0] for r in peek(gw).execute("SELECT id FROM messages WHERE campaign_id = ?", (cid,))}
        paused = await c.call("campaign_action", campaign_id=cid, action="pause")
        assert paused["status"] == "paused"
        assert count(gw, "SELECT count(*) FROM messages WHERE campaign_id = ? AND state = 'queued'", cid) == 30
        assert count(gw, "SELECT count(*) FROM messages WHERE campaign_id = ? AND state = 'ignored'", cid) == 0
        # The link is free again while paused: other traffic flows, including a reply to a
        # contact whose campaign message is held (it is not in line), and the held ones wait.
        release(gw)
        direct = await c.call("send", **{"from": NUMBER, "to": "+14155552000", "text": "agent here",
                                         "priority": "interactive"})
        await wait_until(gw, lambda: count(gw, "SELECT count(*) FROM messages WHERE id = ? AND state = 'delivered'",
                                           direct["id"]) == 1)
        assert count(gw, "SELECT count(*) FROM messages WHERE campaign_id = ? AND state = 'queued'", cid) == 30
        rep = await c.call("campaign_report", campaign_id=cid)
        assert rep["send_status"]["pending"] == 30 and rep["send_status"]["ignored"] == 0
        assert (await c.call("campaign_show", campaign_id=cid))["held"] == 30
        resumed = await c.call("campaign_action", campaign_id=cid, action="resume")
        assert resumed["status"] in ("sending", "processing")
        await wait_until(gw, lambda: campaign_row(gw, cid)["status"] == "finished")
        rows = peek(gw).execute("SELECT id, recipient, state FROM messages WHERE campaign_id = ?", (cid,)).fetchall()
        assert {r[0] for r in rows} == ids_before                     # the same messages, none made again
        assert len({r[1] for r in rows}) == 30 and all(r[2] in ("sent", "delivered") for r in rows)
        rep = await c.call("campaign_report", campaign_id=cid)
        assert sum(rep["send_status"]["by_state"].values()) == 30
        assert rep["send_status"]["succeeded"] == 30 and rep["send_status"]["ignored"] == 0
        history = [r[0] for r in peek(gw).execute("SELECT detail FROM message_history WHERE message_id = ?"
                                                  " ORDER BY rowid", (min(ids_before),))]
        assert f"held: campaign {cid} paused" in history and f"released: campaign {cid} resumed" in history


async def test_stopping_a_paused_campaign_ignores_what_it_held(tmp_path):
    async with running(make_cfg(tmp_path)) as gw:
        hold(gw)
        c = await AsyncClient.connect(gw.socket_path)
        await setup(c, n=10)
        camp = await c.call("campaign_create", fields={"name": "p", "script": "s", "list": "L", "number": NUMBER},
                            launch=True)
        cid = camp["id"]
        await wait_until(gw, lambda: count(gw, "SELECT count(*) FROM messages WHERE campaign_id = ?", cid) == 10)
        await c.call("campaign_action", campaign_id=cid, action="pause")
        assert (await c.call("campaign_action", campaign_id=cid, action="stop"))["status"] == "stopped"
        rep = await c.call("campaign_report", campaign_id=cid)
        assert rep["send_status"]["ignored"] == 10 and sum(rep["send_status"]["by_state"].values()) == 10


async def test_stop_withdraws_queued_messages(tmp_path):
    async with running(make_cfg(tmp_path)) as gw:
        hold(gw)
        c = await AsyncClient.connect(gw.socket_path)
        await setup(c, n=10)
        camp = await c.call("campaign_create", fields={"name": "p", "script": "s", "list": "L", "number": NUMBER},
                            launch=True)
        await wait_until(gw, lambda: count(gw, "SELECT count(*) FROM messages WHERE campaign_id = ?", camp["id"]) == 10)
        assert (await c.call("campaign_action", campaign_id=camp["id"], action="stop"))["status"] == "stopped"
        assert count(gw, "SELECT count(*) FROM messages WHERE campaign_id = ? AND state = 'ignored'", camp["id"]) == 10
        rep = await c.call("campaign_report", campaign_id=camp["id"])
        assert rep["send_status"]["ignored"] == 10 and rep["send_status"]["total"] == 0


async def test_link_down_suspends_and_link_up_resumes_by_itself(tmp_path):
    async with running(make_cfg(tmp_path)) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        await setup(c, n=5)
        sim = gw.links["sim"].link
        sink = sim.sink
        sim._up = False
        sink.status(LinkStatus(link="sim", kind="sim", state=LinkState.DOWN, reason="carrier unreachable"))
        camp = await c.call("campaign_create", fields={"name": "s", "script": "s", "list": "L", "number": NUMBER},
                            launch=True)
        await wait_until(gw, lambda: campaign_row(gw, camp["id"])["status"] == "suspended")
        row = campaign_row(gw, camp["id"])
        assert row["status_reason"].startswith("links down") and NUMBER in row["status_reason"]
        sim._up = True
        sink.status(LinkStatus(link="sim", kind="sim", state=LinkState.UP))
        await wait_until(gw, lambda: campaign_row(gw, camp["id"])["status"] == "finished")


async def test_roles_and_offices(tmp_path):
    async with running(make_cfg(tmp_path)) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        await setup(c)
        camp = await c.call("campaign_create", fields={"name": "m", "script": "s", "list": "L", "number": NUMBER})
        viewer = Principal("vera", 2001, Role.VIEWER, ("main",))
        outsider = Principal("otto", 2002, Role.AGENT, ("other",))
        agent = Principal("ann", 2003, Role.AGENT, ("main",))
        r = await dispatch(gw, viewer, P.CampaignAction(campaign_id=camp["id"], action="launch"))
        assert r.error.code == "forbidden"
        assert (await dispatch(gw, viewer, P.CampaignShow(campaign_id=camp["id"]))).ok
        r = await dispatch(gw, outsider, P.CampaignShow(campaign_id=camp["id"]))
        assert r.error.code == "not_found"
        assert (await dispatch(gw, outsider, P.CampaignList())).result == []
        r = await dispatch(gw, outsider, P.CampaignCreate(fields=P.CampaignFields(name="x", office="main")))
        assert r.error.code == "forbidden"
        assert (await dispatch(gw, agent, P.CampaignAction(campaign_id=camp["id"], action="pause"))).error.code == "bad_status"
        r = await dispatch(gw, agent, P.OptIn(phone="+14155552000"))
        assert r.error.code == "forbidden"   # lifting everything is an admin's call


async def test_campaign_events_carry_the_office(tmp_path):
    async with running(make_cfg(tmp_path)) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        await setup(c, n=2)
        sub = gw.bus.subscribe(["campaign."])
        camp = await c.call("campaign_create", fields={"name": "m", "script": "s", "list": "L", "number": NUMBER},
                            launch=True)
        seen = []
        with trio.fail_after(10):
            while "finished" not in seen:
                ev = await sub.recv.receive()
                assert ev.data["office"] == "main"
                if ev.type == "campaign.status":
                    seen.append(ev.data["status"])
        sub.close()
        assert seen == ["processing", "sending", "finished"]
        assert camp["id"]


async def test_daily_cap_suspends_the_campaign_with_the_reason(tmp_path):
    async with running(make_cfg(tmp_path, number="daily_cap = 5")) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        await setup(c, n=12)
        camp = await c.call("campaign_create", fields={"name": "cap", "script": "s", "list": "L", "number": NUMBER},
                            launch=True)
        await wait_until(gw, lambda: campaign_row(gw, camp["id"])["status"] == "suspended")
        assert campaign_row(gw, camp["id"])["status_reason"].startswith("daily cap reached")
        assert count(gw, "SELECT count(*) FROM messages WHERE campaign_id = ? AND state IN ('sent', 'delivered')",
                     camp["id"]) == 5
        # An operator may resume by hand; while the cap still holds, the system suspends it again.
        assert (await c.call("campaign_action", campaign_id=camp["id"], action="resume"))["status"] in ("processing", "sending")
        await wait_until(gw, lambda: campaign_row(gw, camp["id"])["status"] == "suspended")


async def test_a_scheduled_campaign_starts_by_itself_at_its_time(tmp_path):
    """Wall time is a fake clock the test moves: an hour passes at once, then the scheduler's own
    timer (deadline - now) starts the run a moment later."""
    async with running(make_cfg(tmp_path)) as gw:
        wall = [gw.store.clock()]
        gw.store.clock = lambda: wall[0]
        c = await AsyncClient.connect(gw.socket_path)
        await setup(c, n=3)
        when = dt.datetime.fromtimestamp(wall[0] + 3600, dt.timezone.utc).isoformat()
        camp = await c.call("campaign_create", fields={"name": "later", "script": "s", "list": "L", "number": NUMBER,
                                                       "at": when}, launch=True)
        assert camp["status"] == "scheduled" and camp["next_run"] == pytest.approx(wall[0] + 3600, abs=1e-3)
        assert (await c.call("campaign_show", campaign_id=camp["id"]))["launched_at"] is None
        wall[0] += 3600 - 0.3                  # 0.3 s before the run is due
        gw.campaign_scheduler.wake()           # (a new deadline: what any committed change does)
        assert campaign_row(gw, camp["id"])["status"] == "scheduled"
        with trio.fail_after(10):
            while campaign_row(gw, camp["id"])["status"] == "scheduled":
                await trio.sleep(0.05)
                wall[0] += 0.05
        await wait_until(gw, lambda: campaign_row(gw, camp["id"])["status"] == "finished")
        assert campaign_row(gw, camp["id"])["launched_at"] >= camp["next_run"]


async def test_an_agent_reply_goes_out_ahead_of_the_queued_campaign(tmp_path):
    async with running(make_cfg(tmp_path)) as gw:
        hold(gw)
        c = await AsyncClient.connect(gw.socket_path)
        await setup(c, n=50)
        camp = await c.call("campaign_create", fields={"name": "bulk", "script": "s", "list": "L", "number": NUMBER},
                            launch=True)
        await wait_until(gw, lambda: count(gw, "SELECT count(*) FROM messages WHERE campaign_id = ?", camp["id"]) == 50)
        reply = await c.call("send", **{"from": NUMBER, "to": "+14155550999", "text": "agent here",
                                        "priority": "interactive"})
        gw.links["sim"].window = 1
        gw.links["sim"].notify()
        await wait_until(gw, lambda: count(gw, "SELECT count(*) FROM message_history WHERE state = 'sending'") >= 2)
        first = peek(gw).execute(
            "SELECT message_id FROM message_history WHERE state = 'sending' ORDER BY rowid LIMIT 1").fetchone()[0]
        assert first == reply["id"]


async def test_a_draft_whose_send_time_passed_is_refused_until_the_time_is_moved(tmp_path):
    """Issue 18.10: a passed --at is said, never silently "now"."""
    async with running(make_cfg(tmp_path)) as gw:
        wall = [gw.store.clock()]
        gw.store.clock = lambda: wall[0]
        c = await AsyncClient.connect(gw.socket_path)
        await setup(c, n=2)
        past = dt.datetime.fromtimestamp(wall[0] - 60, dt.timezone.utc).isoformat()
        r = await c.request("campaign_create", fields={"name": "late", "script": "s", "list": "L", "number": NUMBER,
                                                       "at": past})
        assert r["error"]["code"] == "bad_time" and "in the past" in r["error"]["message"]
        soon = dt.datetime.fromtimestamp(wall[0] + 60, dt.timezone.utc).isoformat()
        d = await c.call("campaign_create", fields={"name": "d", "script": "s", "list": "L", "number": NUMBER,
                                                    "at": soon})
        wall[0] += 120
        shown = await c.call("campaign_show", campaign_id=d["id"])
        assert any("has passed" in x for x in shown["not_ready"])
        r = await c.request("campaign_action", campaign_id=d["id"], action="launch")
        assert r["error"]["code"] == "not_ready" and "has passed" in r["error"]["message"]
        edited = await c.call("campaign_edit", campaign_id=d["id"], fields={"at": "now"})
        assert edited["schedule_at"] is None and edited["not_ready"] == []
        assert (await c.call("campaign_action", campaign_id=d["id"], action="launch"))["status"] == "processing"


async def test_campaign_views_carry_variants_next_send_and_what_each_recipient_waits_for(tmp_path):
    """Issue 18.8 at the socket: variant names and shares, the next step due, quiet hours per recipient."""
    async with running(make_cfg(tmp_path)) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        await setup(c, n=3)
        await c.call("script_create", name="b", steps=[{"text": "B {first_name}"}])
        camp = await c.call("campaign_create", fields={
            "name": "q", "script": "s", "list": "L", "number": NUMBER, "variants": [{"script": "b", "weight": 25}],
            "quiet_start": "00:00", "quiet_end": "23:59"}, launch=True)
        await wait_until(gw, lambda: campaign_row(gw, camp["id"])["status"] == "sending")
        shown = await c.call("campaign_show", campaign_id=camp["id"])
        assert [(v["script"], v["weight"]) for v in shown["variants"]] == [("b", 25.0)] and shown["main_weight"] == 75
        assert shown["next_step_at"] is not None and shown["next_step_at"] > gw.store.clock()
        rows = await c.call("campaign_contacts", campaign_id=camp["id"])
        assert all(r["step"] == 0 and r["waiting"].startswith("step 1: quiet hours (00:00-23:59 ")
                   and "held until" in r["waiting"] for r in rows)
        assert all("America/Los_Angeles" in r["waiting"] for r in rows)      # +1415: the recipient's zone
        r = await c.request("campaign_contacts", campaign_id=camp["id"], state="garbage")
        assert r["error"]["code"] == "bad_state" and "unanswered" in r["error"]["message"]
