"""Snapshot tests of the main screens at 80x24 (the SSH minimum) and 120x40, on the fake client."""

from __future__ import annotations

import pytest
from fake_client import T0, FakeClient, link
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


def dashboard_app() -> GatewayApp:
    """Three kinds of link (SMPP down, a modem) with sends at fixed times in the last minute, so
    every column of the links table, each link's sparkline and the total one have something to show."""
    app = make_app()
    client = app.client
    client.status.links = [link(), link("smpp-eu", state="down", reason="bind refused: bad password"), link("gsm1")]
    client.status.links[1].kind = "smpp"
    client.status.links[1].detail = {"host": "smsc.example.net:2775", "bind": "trx"}
    client.status.links[2].kind = "modem"
    client.status.links[2].detail = {"signal": -71, "operator": "Orange", "registration": "home"}
    sends = [("sim", T0 - 59 + s) for s in range(60) for _ in range(1 + s // 12)]     # a ramp
    sends += [("gsm1", T0 - s) for s in (50, 49, 48, 20)]
    for i, (name, at) in enumerate(sends):
        client.push("message.state", at=at, id=1000 + i, state="sent", link=name)
    return app


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_dashboard(snap_compare, size):
    async def run(pilot):
        await goto(screen="DashboardScreen")(pilot)
        await until(pilot, lambda: "gsm1" in pilot.app.link_throughput and "sim" in pilot.app.link_throughput)
        pilot.app.screen._tick()
        await pilot.pause(0.2)
    assert snap_compare(dashboard_app(), terminal_size=size, run_before=run)


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


def campaign_app(**kw) -> GatewayApp:
    from fake_campaigns import CampaignClient

    return GatewayApp(CampaignClient(**kw), tick_s=0.05, status_every_s=3600, clock=lambda: T0)


def tab_keys(n: int) -> list[str]:
    return ["right_square_bracket"] * n


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_campaigns_active(snap_compare, size):
    assert snap_compare(campaign_app(), terminal_size=size, run_before=goto("c", screen="CampaignsScreen"))


def test_campaigns_scheduled_calendar(snap_compare):
    async def run(pilot):
        await goto("c", *tab_keys(1), screen="CampaignsScreen")(pilot)
        await until(pilot, lambda: pilot.app.screen.rows["scheduled"])
        await pilot.pause(0.2)
    assert snap_compare(campaign_app(), terminal_size=(80, 24), run_before=run)


def test_campaigns_draft_not_ready(snap_compare):
    async def run(pilot):
        await goto("c", *tab_keys(2), screen="CampaignsScreen")(pilot)
        await until(pilot, lambda: pilot.app.screen.rows["draft"])
        await pilot.pause(0.2)
    assert snap_compare(campaign_app(), terminal_size=(80, 24), run_before=run)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_campaign_analytics(snap_compare, size):
    async def run(pilot):
        await goto("c", screen="CampaignsScreen")(pilot)
        await until(pilot, lambda: pilot.app.screen.rows["active"])
        pilot.app.screen.query_one("#t-active").focus()
        await pilot.press("enter")
        await until(pilot, lambda: type(pilot.app.screen).__name__ == "CampaignDetailScreen")
        for _ in range(3):
            await pilot.press("right_square_bracket")
        await until(pilot, lambda: pilot.app.screen.report is not None)
        # The charts draw from the report at their own size (widgets/charts.py), so they are in.
        await pilot.pause(0.3)
    assert snap_compare(campaign_app(), terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_inbox(snap_compare, size):
    async def run(pilot):
        await goto("i", screen="InboxScreen")(pilot)
        panel = pilot.app.screen.query_one("InboxPanel")
        await until(pilot, lambda: panel.detail is not None)
        pilot.app.screen.query_one("#ib-reply").cursor_blink = False
        await pilot.pause(0.3)
    assert snap_compare(campaign_app(), terminal_size=size, run_before=run)


def test_contacts(snap_compare):
    async def run(pilot):
        await goto("o", screen="ContactsScreen")(pilot)
        await until(pilot, lambda: pilot.app.screen.query_one("#ct-table").row_count == 3)
        await pilot.pause(0.2)
    assert snap_compare(campaign_app(), terminal_size=(80, 24), run_before=run)


def test_wizard_review(snap_compare):
    async def run(pilot):
        from textual.widgets import Select

        await goto("c", "w", screen="WizardScreen")(pilot)
        wz = pilot.app.screen
        await until(pilot, lambda: wz.scripts)
        wz.query_one("#wz-script", Select).value = "welcome"
        wz.query_one("#wz-list", Select).value = "vip"
        wz.query_one("#wz-name").value = "Autumn"
        wz.query_one("#wz-number", Select).value = "+14155550100"
        for _ in range(5):
            await pilot.press("ctrl+n")
        await until(pilot, lambda: "Preview for" in str(wz.query_one("#wz-review").render()))
        await pilot.pause(0.2)
    assert snap_compare(campaign_app(), terminal_size=(80, 24), run_before=run)


def test_wizard_two_step_script(snap_compare):
    async def run(pilot):
        from textual.widgets import Select

        await goto("c", "w", screen="WizardScreen")(pilot)
        wz = pilot.app.screen
        await until(pilot, lambda: wz.scripts)
        wz.query_one("#wz-script", Select).value = "__new__"
        await pilot.pause()
        wz.query_one("#wz-script-name").value = "follow-up"
        wz.query_one(".step-text").text = "Hi {first_name}, coming to {city}?"
        await pilot.press("ctrl+t")
        await until(pilot, lambda: len(wz.query(".step-text")) == 2 and pilot.app.focused.has_class("step-text"))
        await pilot.press(*"Still on?")
        pilot.app.focused.cursor_blink = False
        await pilot.pause(0.2)
    assert snap_compare(campaign_app(), terminal_size=(80, 24), run_before=run)


def test_wizard_weekly_schedule(snap_compare):
    async def run(pilot):
        await goto("c", "w", screen="WizardScreen")(pilot)
        wz = pilot.app.screen
        await until(pilot, lambda: wz.scripts)
        for _ in range(3):
            await pilot.press("ctrl+n")
        await pilot.press("down", "down", "enter", "tab", "tab", "tab", "tab", "tab", "tab", "space")
        await until(pilot, lambda: wz.query_one("#wz-cron").value == "0 9 * * 1,3")
        await pilot.pause(0.2)
    assert snap_compare(campaign_app(), terminal_size=(80, 24), run_before=run)
