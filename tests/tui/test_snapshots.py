"""Snapshot tests of the main screens at 80x24 (the SSH minimum) and 120x40, on the fake client."""

from __future__ import annotations

import pytest
from fake_client import T0, FakeClient
from helpers import until

from gatewaytui.app import GatewayApp

SIZES = [(80, 24), (120, 40)]


def make_app(**kw) -> GatewayApp:
    client = FakeClient(messages=60, **kw)
    client.set_message(60, "undelivered", error_code="0x0b", error_text="invalid destination")
    client.set_message(59, "queued")
    return GatewayApp(client, tick_s=0.05, status_every_s=3600, clock=lambda: T0)


async def ready(pilot) -> None:
    app = pilot.app
    await until(pilot, lambda: app.identity is not None and app.status is not None)
    await pilot.pause()


def goto(*keys: str, screen: str):
    async def run(pilot):
        await ready(pilot)
        for k in keys:
            await pilot.press(k)
            await pilot.pause()
        await until(pilot, lambda: type(pilot.app.screen).__name__ == screen)
        await pilot.pause(0.2)
        await pilot.wait_for_scheduled_animations()
    return run


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_dashboard(snap_compare, size):
    assert snap_compare(make_app(), terminal_size=size, run_before=goto(screen="DashboardScreen"))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_messages(snap_compare, size):
    assert snap_compare(make_app(), terminal_size=size, run_before=goto("m", screen="MessagesScreen"))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_links(snap_compare, size):
    assert snap_compare(make_app(), terminal_size=size, run_before=goto("l", screen="LinksScreen"))


def test_message_detail(snap_compare):
    assert snap_compare(make_app(), terminal_size=(80, 24),
                        run_before=goto("m", "enter", screen="MessageDetailScreen"))


def test_compose(snap_compare):
    async def run(pilot):
        await goto("n", screen="ComposeScreen")(pilot)
        pilot.app.screen.query_one("#compose-text").cursor_blink = False
        pilot.app.screen.query_one("#compose-to").cursor_blink = False
        await pilot.press(*"+14155550123", "tab", *"Your order has shipped")
        await until(pilot, lambda: "segment" in str(pilot.app.screen.query_one("#compose-counter").render())
                    and "counting" not in str(pilot.app.screen.query_one("#compose-counter").render()))
        await pilot.pause(0.1)
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=run)


def test_viewer_dashboard_hides_compose(snap_compare):
    assert snap_compare(make_app(role="viewer"), terminal_size=(80, 24), run_before=goto(screen="DashboardScreen"))


def test_help(snap_compare):
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=goto("question_mark", screen="HelpScreen"))
