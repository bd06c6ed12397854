"""Compose dialog: live, debounced segment/encoding counter from the daemon; send; validation."""

from __future__ import annotations

import pytest
from fake_client import FakeClient
from helpers import notes, until
from textual.widgets import Select

from gatewaytui.app import GatewayApp


async def open_compose(pilot, app):
    await until(pilot, lambda: app.status is not None and app.identity is not None)
    await pilot.press("n")
    await until(pilot, lambda: type(app.screen).__name__ == "ComposeScreen")


def counter(app) -> str:
    return str(app.screen.query_one("#compose-counter").render())


@pytest.mark.asyncio
async def test_counter_follows_typing_with_few_requests_and_switches_to_unicode():
    client = FakeClient()
    app = GatewayApp(client, tick_s=0.02, status_every_s=60)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_compose(pilot, app)
        assert app.screen.query_one("#compose-from", Select).value == "+14155550100"
        await pilot.press("tab")                       # to the text area
        await pilot.press(*"Hello there")
        await until(pilot, lambda: "1 segment" in counter(app), what="gsm counter")
        assert "GSM-7" in counter(app) and "11 septets" in counter(app) and "149 left" in counter(app)
        assert 1 <= len(client.sent("analyse")) <= 3   # debounced, not one per key
        assert client.sent("analyse")[-1].text == "Hello there"
        app.screen.query_one("#compose-text").insert(" café ☕")
        await until(pilot, lambda: "UCS-2" in counter(app), what="unicode counter")
        assert "forces Unicode" in counter(app)


@pytest.mark.asyncio
async def test_long_text_counts_several_segments():
    client = FakeClient()
    app = GatewayApp(client, tick_s=0.02, status_every_s=60)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_compose(pilot, app)
        app.screen.query_one("#compose-text").text = "x" * 200
        await until(pilot, lambda: "2 segments" in counter(app), what="two segments")
        assert "153/seg" in counter(app)


@pytest.mark.asyncio
async def test_send_queues_the_message_and_reports_it():
    client = FakeClient()
    app = GatewayApp(client, tick_s=0.02, status_every_s=60)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_compose(pilot, app)
        await pilot.press(*"+14155550123", "tab")
        await pilot.press(*"Your table is ready")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: client.sent("send"), what="send")
        req = client.sent("send")[0]
        assert (req.sender, req.to, req.text) == ("+14155550100", "+14155550123", "Your table is ready")
        await until(pilot, lambda: any("queued" in n for n in notes(app)), what="queued notification")
        assert type(app.screen).__name__ == "DashboardScreen"


@pytest.mark.asyncio
async def test_missing_fields_are_explained_and_daemon_errors_shown():
    from gatewaytui.client import RequestError

    client = FakeClient()
    client.failures["send"] = RequestError("invalid_number", "'+1' is not a valid phone number")
    app = GatewayApp(client, tick_s=0.02, status_every_s=60)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_compose(pilot, app)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: notes(app), what="validation note")
        assert "enter a recipient" in notes(app)[-1] and "write a message" in notes(app)[-1]
        assert type(app.screen).__name__ == "ComposeScreen"
        await pilot.press(*"+1", "tab", *"hi", "ctrl+s")
        await until(pilot, lambda: any("not a valid phone number" in n for n in notes(app)), what="error")
        assert any(n.startswith("Invalid number:") for n in notes(app))


@pytest.mark.asyncio
async def test_escape_discards_and_viewers_cannot_compose():
    client = FakeClient()
    app = GatewayApp(client, tick_s=0.02, status_every_s=60)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_compose(pilot, app)
        await pilot.press(*"+1415", "escape")
        assert type(app.screen).__name__ == "DashboardScreen" and client.sent("send") == []

    viewer = FakeClient(role="viewer")
    app = GatewayApp(viewer, tick_s=0.02, status_every_s=60)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.identity is not None)
        await pilot.pause()
        assert "compose" not in {b.binding.action for b in app.screen.active_bindings.values()}
        await pilot.press("n")
        await pilot.pause()
        assert type(app.screen).__name__ == "DashboardScreen"
