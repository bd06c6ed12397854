"""Carrier budgets that span numbers (issue 13 item 5), through the real gateway on sim links.

Virtual time: ``fast_clock`` (20x), not ``autojump_clock``: the store works in threads, and autojump
jumps to the next deadline (a budget's refill, a test's own timeout) whenever the loop waits on them. The links record when each submit was accepted
(``LinkRuntime.sent_times``, trio clock), which is what the carrier would count. Budgets count at
claim time, a few milliseconds before the submit; at x20 on a loaded machine that can be a second or
more of virtual time, so rate checks count in windows of ``SPAN`` (55 s): a budget that let twice
its limit through (a fixed window's double burst at the boundary, or no cap at all) still fails.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import msgspec
import pytest
import trio
import trio.testing

from gatewayd import cli, config
from gatewayd.errors import ConfigError
from gatewayd.sending.budgets import Budget, Window
from support import AsyncClient, make_config, query, running, states, wait_until

pytestmark = pytest.mark.trio
A, B = "+14155550100", "+14155550101"
SPAN = 55.0


def cfg_text(budgets: str, *, a: str = 'budgets = ["shared"]', b: str = 'budgets = ["shared"]') -> str:
    """Two numbers, each on a sim link of its own (so what is shared is the budget, not a link)."""
    links = "".join(f"""
[[links]]
name = "{name}"
kind = "sim"
window = 20
dlr_delay_s = 0.01
delivered = 1.0
undelivered = 0.0
rejected = 0.0
reject_prefixes = ["+1415555999"]
""" for name in ("sim1", "sim2"))
    return links + f"""
[[numbers]]
address = "{A}"
links = ["sim1"]
rate = 100
burst = 100
{a}
[[numbers]]
address = "{B}"
links = ["sim2"]
rate = 100
burst = 100
{b}
{budgets}
"""


@pytest.fixture
def fast_clock():
    """Virtual time 20 times faster than real, without autojump (see the module docstring)."""
    return trio.testing.MockClock(rate=20)


def sent_times(gw) -> list[float]:
    return sorted(t for lr in gw.links.values() for t in lr.sent_times)


def most_in_any(times: list[float], span: float) -> int:
    """The most accepted submits inside any window of ``span`` seconds."""
    j, best = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - span:
            j += 1
        best = max(best, i - j + 1)
    return best


def virtual_wall(gw, clock, at: float | None = None) -> None:
    """The store's wall clock follows virtual time (from ``at``), so ``submitted_at`` is
    comparable with it. (The mock clock, not trio.current_time: the writer thread reads it.)"""
    base = (gw.store.clock() if at is None else at) - clock.current_time()
    gw.store.clock = lambda: base + clock.current_time()


async def send(c: AsyncClient, sender: str, to: str, text: str = "x", priority: str = "bulk") -> dict:
    return await c.call("send", **{"from": sender, "to": to, "text": text, "priority": priority})


# ---- config --------------------------------------------------------------------------------


@pytest.mark.parametrize("budgets, a, path", [
    ('[[budgets]]\nname = "shared"\nper_minute = 10', 'budgets = ["nope"]', "numbers[0].budgets[0]"),
    ('[[budgets]]\nname = "shared"\nper_minute = 0', 'budgets = ["shared"]', "budgets[0].per_minute"),
    ('[[budgets]]\nname = "shared"\nper_minute = 9', 'budgets = ["shared", "shared"]', "numbers[0].budgets[1]"),
    ('[[budgets]]\nname = "shared"\nper_day = -5', 'budgets = ["shared"]', "budgets[0].per_day"),
    ('[[budgets]]\nname = "shared"', 'budgets = ["shared"]', "budgets[0]"),
    ('[[budgets]]\nname = "shared"\nper_day = 5\ntz = "Mars/Olympus"', 'budgets = ["shared"]', "budgets[0].tz"),
    ('[[budgets]]\nname = "shared"\nper_day = 5\n[[budgets]]\nname = "shared"\nper_day = 6', "", "budgets[1].name"),
])
async def test_bad_budget_config_names_the_key(budgets, a, path):
    with pytest.raises(ConfigError) as e:
        config.parse(cfg_text(budgets, a=a, b=""))
    assert e.value.path == path


async def test_check_config_exits_2_with_the_key_path(tmp_path, capsys):
    bad = tmp_path / "gw.toml"
    bad.write_text(cfg_text('[[budgets]]\nname = "shared"\nper_minute = 10', a='budgets = ["typo"]', b=""))
    assert cli.main(["--config", str(bad), "--check-config"]) == 2
    err = capsys.readouterr().err
    assert "numbers[0].budgets[0]" in err and "typo" in err


# ---- the counting itself (sans-I/O) ----------------------------------------------------------


async def test_sliding_window_never_allows_twice_the_limit_across_a_boundary():
    w = Window(10, 60.0)
    w.add(10, 59.0)
    assert w.remaining(61.0) == 0           # a fixed per-minute window would have reset at 60
    assert w.free_at(1, 61.0) == 119.0
    assert w.remaining(119.0) == 10
    w.add(4, 120.0)
    w.refund(3)                              # a refused submit gives its segments back
    assert w.remaining(120.0) == 9


async def test_a_message_larger_than_the_whole_limit_goes_when_the_budget_is_untouched():
    b = Budget(config.BudgetConfig(name="b", per_second=2, per_day=100))
    assert b.untouched(0.0, 0.0) and b.capacity == 2
    b.take(3, 0.0, 0.0)                      # the 3-segment message went alone
    assert b.remaining(0.5, 0.0) < 0 and b.free_in(1, 0.5, 0.0) == pytest.approx(0.5)


# ---- through the gateway -------------------------------------------------------------------


async def test_a_per_minute_budget_caps_two_numbers_combined(tmp_path, fast_clock):
    cfg = make_config(tmp_path, cfg_text('[[budgets]]\nname = "shared"\nper_minute = 20'))
    async with running(cfg) as gw:
        virtual_wall(gw, fast_clock)
        c = await AsyncClient.connect(gw.socket_path)
        await c.call("send_batch", messages=[{"from": sender, "to": f"+1415555{1000 * k + i}", "text": "x",
                                              "priority": "bulk"} for i in range(25) for k, sender in ((1, A), (2, B))])
        await wait_until(gw, lambda: states(gw).get("delivered") == 50, timeout=900)
        times = sent_times(gw)
        assert len(times) == 50
        assert most_in_any(times, SPAN) == 20            # never more than the budget in any minute
        assert times[-1] - times[0] >= 2 * SPAN          # 50 segments at 20/min: into the third minute
        assert {lr.name: len(lr.sent_times) > 0 for lr in gw.links.values()} == {"sim1": True, "sim2": True}
        assert query(gw, "SELECT max(attempts) FROM messages") == [(1,)]   # held, never attempted twice
        st = await c.call("status")
        [bv] = st["budgets"]
        assert (bv["name"], bv["per_minute"], bv["numbers"]) == ("shared", 20, [A, B])


async def test_a_spent_daily_budget_holds_messages_across_a_restart_until_the_day_rolls(tmp_path, fast_clock):
    # A zone where it is about noon now, so the real clock is far from midnight during the test.
    offset = (12 - dt.datetime.now(dt.timezone.utc).hour) % 24
    zone = "UTC" if offset == 0 else f"Etc/GMT{'-' if offset <= 12 else '+'}{offset if offset <= 12 else 24 - offset}"
    cfg = make_config(tmp_path, cfg_text(f'[[budgets]]\nname = "shared"\nper_day = 3\ntz = "{zone}"', b=""))
    to = ["+14155553001", "+14155553002"]
    async with running(cfg) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        ids = [(await send(c, A, to[i % 2], f"m{i}"))["id"] for i in range(6)]
        await wait_until(gw, lambda: states(gw).get("delivered") == 3, timeout=600)
        await trio.sleep(30)
        assert states(gw) == {"delivered": 3, "queued": 3}
        st = await c.call("status")
        assert (st["budgets"][0]["used_today"], st["budgets"][0]["remaining"]) == (3, 0)
    async with running(cfg) as gw:                       # restart: the day's use is remembered
        c = await AsyncClient.connect(gw.socket_path)
        await trio.sleep(60)
        assert states(gw) == {"delivered": 3, "queued": 3}
        assert query(gw, "SELECT count(*) FROM message_history WHERE state = 'sending'") == [(3,)]
        assert (await c.call("status"))["budgets"][0]["used_today"] == 3
        # Ten seconds before the budget's midnight, and the wall clock runs with virtual time.
        zinfo = dt.datetime.now(dt.timezone.utc).astimezone(ZoneInfo(zone))
        midnight = dt.datetime.combine(zinfo.date() + dt.timedelta(days=1), dt.time(), zinfo.tzinfo).timestamp()
        t0 = trio.current_time()
        virtual_wall(gw, fast_clock, at=midnight - 10)
        gw.dispatcher.kick()                             # (any commit does this)
        await trio.sleep(5)
        assert states(gw).get("queued") == 3             # not yet
        await wait_until(gw, lambda: states(gw).get("delivered") == 6, timeout=600)
        assert trio.current_time() - t0 >= 10
        # per-recipient order held through it all: each recipient's messages were sent in id order
        for r in to:
            rows = query(gw, "SELECT m.id, s.submitted_at FROM messages m JOIN segments s ON s.message_id = m.id"
                             " WHERE m.recipient = ? ORDER BY m.id", (r,))
            assert [x[1] for x in rows] == sorted(x[1] for x in rows) and len(rows) == 3
        assert sorted(ids) == [r[0] for r in query(gw, "SELECT id FROM messages WHERE state = 'delivered' ORDER BY id")]
        days = [str(zinfo.date()), str(zinfo.date() + dt.timedelta(days=1))]
        assert query(gw, "SELECT day, segments FROM budget_usage ORDER BY day") == [(days[0], 3), (days[1], 3)]


async def test_an_agent_reply_on_another_number_overtakes_queued_bulk(tmp_path, fast_clock):
    cfg = make_config(tmp_path, cfg_text('[[budgets]]\nname = "shared"\nper_minute = 10'))
    async with running(cfg) as gw:
        virtual_wall(gw, fast_clock)
        c = await AsyncClient.connect(gw.socket_path)
        bulk = [(await send(c, A, f"+1415555{4000 + i}"))["id"] for i in range(30)]
        await wait_until(gw, lambda: states(gw).get("delivered") == 10, timeout=60)
        await trio.sleep(5)                              # the budget is spent; bulk waits for the minute
        tx = await send(c, B, "+14155554100", "your code is 1234", priority="transactional")
        reply = await send(c, B, "+14155554101", "an agent's answer", priority="interactive")
        await wait_until(gw, lambda: states(gw).get("delivered") == 32, timeout=600)

        def sent_at(mid: int) -> float:
            return query(gw, "SELECT submitted_at FROM segments WHERE message_id = ?", (mid,))[0][0]
        later_bulk = sorted(sent_at(m) for m in bulk)[10:]
        assert sent_at(reply["id"]) <= later_bulk[0] and sent_at(tx["id"]) <= later_bulk[0]
        assert most_in_any(sent_times(gw), SPAN) == 10
        assert "failed" not in states(gw)


async def test_refused_submits_give_their_segments_back(tmp_path, fast_clock):
    cfg = make_config(tmp_path, cfg_text('[[budgets]]\nname = "shared"\nper_day = 3', b=""))
    async with running(cfg) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        for i in range(2):
            await send(c, A, f"+1415555999{i}")     # the sim refuses these (invalid number)
        for i in range(3):
            await send(c, A, f"+1415555{5000 + i}")
        await wait_until(gw, lambda: states(gw) == {"failed": 2, "delivered": 3}, timeout=600)
        assert (await c.call("status"))["budgets"][0]["used_today"] == 3
        assert query(gw, "SELECT segments FROM budget_usage") == [(3,)]


# ---- campaigns -----------------------------------------------------------------------------


async def test_a_campaign_waiting_on_its_budget_says_so_and_finishes_when_it_refills(tmp_path, fast_clock):
    cfg = make_config(tmp_path, cfg_text('[[budgets]]\nname = "promo"\nper_minute = 5', a="", b=""))
    async with running(cfg) as gw:
        virtual_wall(gw, fast_clock)
        c = await AsyncClient.connect(gw.socket_path)
        await c.call("contacts_import", list="L", header=["Phone"], rows=[[f"+1415555{6000 + i}"] for i in range(12)])
        await c.call("script_create", name="s", type="nudge", steps=[{"text": "Hello"}])
        r = await c.request("campaign_create", fields={"name": "x", "script": "s", "list": "L", "number": A,
                                                       "budget": "nope"})
        assert r["error"]["code"] == "unknown_budget"
        camp = await c.call("campaign_create", fields={"name": "spring", "script": "s", "list": "L", "number": A,
                                                       "budget": "promo"}, launch=True)
        assert camp["budget"] == "promo"
        # Agent-free traffic on the same number is not held by the campaign's budget.
        other = await send(c, A, "+14155556999", "not the campaign's")
        await wait_until(gw, lambda: states(gw).get("delivered") == 6, timeout=600)
        await trio.sleep(10)
        shown = await c.call("campaign_show", campaign_id=camp["id"])
        assert shown["status"] == "sending"
        assert shown["waiting"].startswith("waiting for budget promo: 5/minute used, refills in")
        assert query(gw, "SELECT state FROM messages WHERE id = ?", (other["id"],)) == [("delivered",)]
        assert query(gw, "SELECT count(*) FROM messages WHERE campaign_id = ? AND state = 'queued'",
                     (camp["id"],)) == [(7,)]
        await wait_until(gw, lambda: query(gw, "SELECT status FROM campaigns")[0][0] == "finished", timeout=900)
        assert states(gw) == {"delivered": 13}
        shown = await c.call("campaign_show", campaign_id=camp["id"])
        assert shown["waiting"] is None
        campaign_times = sorted(r[0] for r in query(
            gw, "SELECT s.submitted_at FROM segments s JOIN messages m ON m.id = s.message_id WHERE m.campaign_id = 1"))
        assert most_in_any(campaign_times, SPAN) == 5



async def test_a_reload_that_raises_the_limit_releases_held_messages_and_keeps_the_count(tmp_path, fast_clock):
    cfg = make_config(tmp_path, cfg_text('[[budgets]]\nname = "shared"\nper_day = 2', b=""))
    async with running(cfg) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        for i in range(4):
            await send(c, A, f"+1415555{7000 + i}")
        await wait_until(gw, lambda: states(gw).get("delivered") == 2, timeout=600)
        await trio.sleep(60)
        assert states(gw) == {"delivered": 2, "queued": 2}
        raised = msgspec.structs.replace(cfg.budgets[0], per_day=4)
        gw.reload(msgspec.structs.replace(cfg, budgets=[raised]))
        await wait_until(gw, lambda: states(gw).get("delivered") == 4, timeout=600)
        [bv] = (await c.call("status"))["budgets"]
        assert (bv["used_today"], bv["per_day"], bv["remaining"]) == (4, 4, 0)


async def test_gatewayctl_status_and_campaign_show_print_budgets(capsys):
    from argparse import Namespace

    from gatewayd import ctl
    from gatewayd.campaigns import commands

    budget = {"name": "brand-acme", "per_second": None, "per_minute": 3600, "per_day": 200000, "tz": "UTC",
              "used_second": None, "used_minute": 3600, "used_today": 41000, "remaining": 0,
              "refills_in_s": 12.0, "numbers": [A, B], "waiting": [A]}
    status = {"version": "x", "started_at": 0.0, "links": [], "numbers": [], "queue": {"queued": 5},
              "sent_per_s": 0.0, "delivered_per_s": 0.0, "inbound_total": 0, "unmatched_receipts": 0,
              "budgets": [budget]}

    class Fake:
        def call(self, op, **kw):
            return status

    ctl.cmd_status(Fake(), Namespace(json=False, command="status"))
    out = capsys.readouterr().out
    assert "BUDGET" in out and "brand-acme" in out and "3600/3600" in out and "41000/200000" in out
    assert "12s" in out and f"{A},{B}" in out
    commands._campaign_human({"id": 1, "name": "spring", "status": "sending", "status_reason": "", "script": "s",
                              "list": "L", "number": A, "office": "main", "operated_by": "agent",
                              "stop_on_reply": False, "tags": [], "cron": None, "created_at": 0, "updated_at": 0,
                              "launched_at": 0, "next_run": None, "actions": ["view"], "budget": "promo",
                              "waiting": "waiting for budget promo: 5/minute used, refills in 30 s"})
    out = capsys.readouterr().out
    assert "carrier budget: promo" in out and "waiting for budget promo: 5/minute used" in out


async def test_only_the_ttl_ends_a_message_held_by_a_budget(tmp_path, fast_clock):
    cfg = make_config(tmp_path, cfg_text('[[budgets]]\nname = "shared"\nper_minute = 1', b=""))
    async with running(cfg) as gw:
        virtual_wall(gw, fast_clock)
        c = await AsyncClient.connect(gw.socket_path)
        await send(c, A, "+14155558000")
        await wait_until(gw, lambda: states(gw).get("delivered") == 1, timeout=60)
        m = await c.call("send", **{"from": A, "to": "+14155558001", "text": "late", "ttl_s": 20})
        await trio.sleep(10)
        assert query(gw, "SELECT state, attempts FROM messages WHERE id = ?", (m["id"],)) == [("queued", 0)]
        await wait_until(gw, lambda: states(gw).get("expired") == 1, timeout=60)
        assert query(gw, "SELECT attempts, error_code FROM messages WHERE id = ?", (m["id"],)) == [(0, "expired")]
        assert (await c.call("status"))["budgets"][0]["used_minute"] == 1   # the expired one took nothing


async def test_a_campaign_naming_its_numbers_budget_counts_once(tmp_path, fast_clock):
    cfg = make_config(tmp_path, cfg_text('[[budgets]]\nname = "shared"\nper_day = 4', b=""))
    async with running(cfg) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        await c.call("contacts_import", list="L", header=["Phone"], rows=[[f"+1415555{6100 + i}"] for i in range(6)])
        await c.call("script_create", name="s", type="nudge", steps=[{"text": "Hello"}])
        await c.call("campaign_create", fields={"name": "same", "script": "s", "list": "L", "number": A,
                                                "budget": "shared"}, launch=True)
        await wait_until(gw, lambda: states(gw).get("delivered") == 4, timeout=600)
        await trio.sleep(30)
        assert states(gw) == {"delivered": 4, "queued": 2}
        assert query(gw, "SELECT segments FROM budget_usage") == [(4,)]


async def test_a_stop_confirmation_goes_though_a_spent_budget_holds_the_bulk(tmp_path, fast_clock):
    """SPEC §11 / issue 17.1: the opt-out confirmation is never held, not even by a spent carrier
    budget; the bulk behind the budget stays queued."""
    cfg = make_config(tmp_path, cfg_text('[[budgets]]\nname = "shared"\nper_day = 2', b=""))
    async with running(cfg) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        for i in range(4):
            await send(c, A, f"+1415555{6000 + i}")
        await wait_until(gw, lambda: states(gw) == {"delivered": 2, "queued": 2}, timeout=600)
        got = await c.call("sim_inbound", **{"from": "+14155556100", "to": A, "text": "STOP"})
        assert got["keyword"] == "STOP"
        await wait_until(gw, lambda: query(gw, "SELECT state FROM messages WHERE recipient = ?",
                                           ("+14155556100",)) in ([("sent",)], [("delivered",)]), timeout=600)
        assert states(gw).get("queued") == 2            # the spent budget still holds the bulk
