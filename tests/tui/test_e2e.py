"""End to end: the TUI against a real gatewayd on the sim link (send, watch delivery, survive a restart)."""

from __future__ import annotations

import asyncio

import pytest
from daemon import Daemon
from helpers import cells, notes, rows_by_label, until
from textual.widgets import DataTable

from gatewaytui.app import GatewayApp
from gatewaytui.client import SocketClient
from gatewaytui.widgets.chrome import Banner
from gatewaytui.widgets.status import LinksTable

pytestmark = pytest.mark.e2e


@pytest.fixture
def daemon():
    d = Daemon().start()
    yield d
    d.cleanup()


@pytest.mark.asyncio
async def test_compose_send_and_watch_it_delivered(daemon):
    app = GatewayApp(SocketClient(daemon.socket), tick_s=0.05, status_every_s=0.5)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.identity is not None and app.status is not None, 15, "connected")
        assert app.identity.role.value == "admin"
        await until(pilot, lambda: any(r["Link"] == "sim" and r["State"] == "up"
                                       for r in rows_by_label(app.screen.query_one(LinksTable))), 15, "sim link up")
        await pilot.press("n")
        await until(pilot, lambda: type(app.screen).__name__ == "ComposeScreen")
        await pilot.press(*"+14155550123", "tab", *"Hello from the TUI")
        await until(pilot, lambda: "1 segment" in str(app.screen.query_one("#compose-counter").render()), 10,
                    "real segment counter")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: any("queued" in n for n in notes(app)), 10, "queued")
        await pilot.press("m")
        table = app.screen.query_one("#msg-table", DataTable)
        await until(pilot, lambda: table.row_count == 1 and cells(table)[0][4] == "✔ delivered", 20,
                    "delivered via live events")
        assert cells(table)[0][3] == "+14155550123"


@pytest.mark.asyncio
async def test_daemon_restart_shows_banner_then_resumes_live_updates(daemon):
    app = GatewayApp(SocketClient(daemon.socket), tick_s=0.05, status_every_s=0.5)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.connected and app.status is not None, 15, "connected")
        await pilot.press("m")
        table = app.screen.query_one("#msg-table", DataTable)
        banner = app.screen.query_one(Banner)
        await asyncio.to_thread(daemon.stop)
        await until(pilot, lambda: banner.display, 15, "banner")
        assert "unreachable" in str(banner.render()) or "Reconnecting" in str(banner.render())
        await asyncio.to_thread(daemon.start)
        await until(pilot, lambda: not banner.display, 20, "reconnected")
        await asyncio.to_thread(daemon.ctl, "send", "--from", "+14155550100", "--to", "+14155550777",
                                "--text", "after restart")
        await until(pilot, lambda: table.row_count >= 1 and cells(table)[0][3] == "+14155550777", 20,
                    "message sent after restart appears live")
        await until(pilot, lambda: cells(table)[0][4] == "✔ delivered", 20, "and its receipt")
