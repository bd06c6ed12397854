"""Dashboard: identity, links, queue counts, throughput, alerts; live and at 80x24."""

from __future__ import annotations

import pytest
from fake_client import FakeClient, link
from helpers import cells, notes, read_table, rows_by_label, screen_text, until
from textual.widgets import Sparkline

from gatewaytui.app import GatewayApp
from gatewaytui.widgets.chrome import Banner, TopBar
from gatewaytui.widgets.status import AlertsPanel, LinksTable, NumbersTable, QueuePanel


def app_for(client: FakeClient) -> GatewayApp:
    return GatewayApp(client, tick_s=0.02, status_every_s=60)


@pytest.mark.asyncio
async def test_shows_who_i_am_links_numbers_and_queue_counts():
    client = FakeClient(user="alice", role="agent")
    app = app_for(client)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.identity is not None and app.status is not None, what="hello+status")
        await pilot.pause()
        bar = str(app.screen.query_one(TopBar).render())
        assert "alice·agent" in bar and "Dashboard" in bar
        sim = rows_by_label(app.screen.query_one(LinksTable))[0]
        assert (sim["Link"], sim["State"], sim["Window"]) == ("sim", "up", "3/50")
        numbers = cells(app.screen.query_one(NumbersTable))
        assert numbers[0][0] == "+14155550100" and numbers[0][3] == "12/1000"
        queue = str(app.screen.query_one(QueuePanel).render())
        assert "delivered" in queue and "80" in queue
        assert "95.2%" in queue      # 80 delivered of 84 finished
        assert "No alerts" in str(app.screen.query_one(AlertsPanel).render())


@pytest.mark.asyncio
async def test_throughput_sparkline_moves_with_sent_events():
    client = FakeClient()
    app = app_for(client)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.status is not None)
        for i in range(30):
            client.push("message.state", id=i, state="sent")
        await until(pilot, lambda: sum(app.throughput.series(app.clock(), 60)) == 30, what="30 sent counted")
        app.screen._tick()
        assert max(app.screen.query_one(Sparkline).data) > 0
        assert "sent   3.0/s" in str(app.screen.query_one("#dash-rate-label").render())


@pytest.mark.asyncio
async def test_link_down_event_raises_alert_and_refreshes_status():
    client = FakeClient()
    app = app_for(client)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.status is not None)
        client.status.links = [link(state="down", reason="bind refused: bad password")]
        client.push("link.state", link="sim", state="down", reason="bind refused: bad password")
        await until(pilot, lambda: app.status.links[0].state.value == "down", what="status refresh")
        await pilot.pause()
        assert "Link sim is down: bind refused: bad password" in str(app.screen.query_one(AlertsPanel).render())
        assert any("link sim down" in n for n in notes(app))


@pytest.mark.asyncio
async def test_unmatched_receipts_alert_opens_the_list():
    client = FakeClient()
    client.status.unmatched_receipts = 1
    from gatewayd.protocol import ReceiptView
    client.receipts = [ReceiptView(id=1, link="sim", carrier_id="deadbeef", stat="DELIVRD", err="000",
                                   received_at=1_700_000_000.0, raw="id:deadbeef stat:DELIVRD")]
    app = app_for(client)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.status is not None)
        await pilot.pause()
        assert "1 unmatched receipt(s)" in str(app.screen.query_one(AlertsPanel).render())
        await pilot.press("u")
        await until(pilot, lambda: type(app.screen).__name__ == "ReceiptsScreen", what="receipts screen")
        table = app.screen.query_one("DataTable")
        assert cells(table)[0][2] == "deadbeef"
        await pilot.press("escape")
        assert type(app.screen).__name__ == "DashboardScreen"


@pytest.mark.asyncio
async def test_banner_while_daemon_away_and_recovery():
    client = FakeClient()
    app = app_for(client)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.connected)
        banner = app.screen.query_one(Banner)
        assert not banner.display
        client.go_down("gatewayd is not running at /run/gatewayd/gatewayd.sock", attempt=3)
        await until(pilot, lambda: banner.display, what="banner")
        assert "unreachable" in str(banner.render()) and "attempt 3" in str(banner.render())
        assert "○" in str(app.screen.query_one(TopBar).render())
        hellos = len(client.sent("hello"))
        client.come_back()
        await until(pilot, lambda: not banner.display, what="banner gone")
        await until(pilot, lambda: len(client.sent("hello")) > hellos, what="identity reloaded")
        assert any("Reconnected" in n for n in notes(app))


@pytest.mark.asyncio
async def test_error_reply_is_a_readable_notification():
    from gatewaytui.client import RequestError

    client = FakeClient()
    client.failures["list_receipts"] = RequestError("forbidden", "bob is viewer: receipts needs agent")
    app = app_for(client)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.status is not None)
        await pilot.press("u")
        await until(pilot, lambda: notes(app), what="notification")
        assert notes(app)[-1] == "Forbidden: bob is viewer: receipts needs agent"
        assert type(app.screen).__name__ == "DashboardScreen"


@pytest.mark.asyncio
async def test_suspended_campaign_is_an_alert():
    from fake_campaigns import CampaignClient, campaign

    client = CampaignClient()
    client.campaigns[9] = campaign(9, "Flash sale", "suspended", status_reason="daily cap reached")
    app = app_for(client)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.status is not None and app.suspended, what="status")
        await pilot.pause()
        assert "Campaign 'Flash sale' suspended: daily cap reached" in str(
            app.screen.query_one(AlertsPanel).render())


@pytest.mark.asyncio
async def test_modem_link_shows_signal_and_operator():
    client = FakeClient()
    client.status.links = [link(), link("gsm1", reason="")]
    client.status.links[1].kind = "modem"
    client.status.links[1].detail = {"signal": -71, "operator": "Orange", "registration": "home"}
    app = app_for(client)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: app.status is not None)
        await pilot.pause()
        row = rows_by_label(app.screen.query_one(LinksTable))[1]
        assert (row["Link"], row["Signal"], row["Detail"]) == ("gsm1", "-71 dBm", "Orange (home)")


@pytest.mark.asyncio
async def test_refused_user_gets_an_explanation_not_a_generic_outage():
    from gatewaytui.client import Connection

    client = FakeClient()
    app = app_for(client)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.connected)
        client._stream.put_nowait(Connection(up=False, detail="unknown user uid 1001: not in [access]", attempt=1,
                                             code="forbidden"))
        banner = app.screen.query_one(Banner)
        await until(pilot, lambda: banner.display, what="banner")
        text = str(banner.render())
        assert "refused this user" in text and "[access]" in text and "unreachable" not in text


@pytest.mark.asyncio
async def test_a_bug_in_a_task_is_reported_and_the_console_keeps_running():
    client = FakeClient()

    def broken(req):
        raise KeyError("carrier_id")

    client.handlers["list_receipts"] = broken
    app = app_for(client)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.status is not None)
        await pilot.press("u")
        await until(pilot, lambda: any("Internal error" in n for n in notes(app)), what="reported")
        await pilot.press("m")
        await until(pilot, lambda: type(app.screen).__name__ == "MessagesScreen", what="still usable")


def three_links(client: FakeClient) -> None:
    client.status.links = [link(), link("smpp-eu", state="down", reason="bind refused: bad password"), link("gsm1")]
    client.status.links[1].kind = "smpp"
    client.status.links[1].detail = {"host": "smsc.example.net:2775", "bind": "trx"}
    client.status.links[2].kind = "modem"
    client.status.links[2].detail = {"signal": -71, "operator": "Orange", "registration": "home"}


@pytest.mark.asyncio
async def test_each_links_sparkline_is_on_screen_at_80x24_and_moves_with_its_own_events():
    """At 80 columns the links table used to scroll sideways, hiding the per-link "Last 60 s" column."""
    client = FakeClient()
    three_links(client)
    app = app_for(client)
    async with app.run_test(size=(80, 24)) as pilot:
        def on_screen() -> dict[str, dict[str, str]]:
            return {r["Link"]: r for r in read_table(screen_text(app), "Link", "State", "Last 60 s")}

        await until(pilot, lambda: len(on_screen()) == 3, what="three links on screen")
        rows = on_screen()
        assert rows["smpp-eu"]["State"] == "down: bind refused: bad password"
        assert (rows["sim"]["State"], rows["sim"]["Window"]) == ("up", "3/50")
        assert rows["gsm1"]["Signal"] == "-71 dBm"
        assert [r["Last 60 s"] for r in rows.values()] == ["", "", ""]
        assert app.screen.query_one(LinksTable).max_scroll_x == 0          # nothing hidden to the right

        for i in range(5):
            client.push("message.state", id=i, state="sent", link="gsm1")
        await until(pilot, lambda: on_screen()["gsm1"]["Last 60 s"] != "", what="gsm1's sparkline to move")
        assert on_screen()["sim"]["Last 60 s"] == "" and on_screen()["smpp-eu"]["Last 60 s"] == ""

        for i in range(5, 25):
            client.push("message.state", id=i, state="delivered", link="sim")   # receipts are not sends
        client.push("message.state", id=99, state="sent", link="sim")
        await until(pilot, lambda: on_screen()["sim"]["Last 60 s"] != "", what="sim's sparkline to move")
        assert on_screen()["smpp-eu"]["Last 60 s"] == ""
        assert sum(app.link_throughput["sim"].series(app.clock(), 60)) == 1
