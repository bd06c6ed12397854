"""Command palette: finds screens, campaigns (opens the detail) and contacts (opens their inbox)."""

from __future__ import annotations

import pytest
from fake_campaigns import CampaignClient
from helpers import until

from gatewaytui.app import GatewayApp


async def palette(pilot, app, text: str) -> None:
    await until(pilot, lambda: app.identity is not None and app.status is not None)
    await pilot.press("ctrl+p")
    await until(pilot, lambda: type(app.screen).__name__ == "CommandPalette")
    await pilot.press(*text)


@pytest.mark.asyncio
async def test_palette_opens_a_campaign_by_name():
    client = CampaignClient()
    app = GatewayApp(client, tick_s=0.02, status_every_s=60)
    async with app.run_test(size=(100, 30)) as pilot:
        await palette(pilot, app, "spring")
        await until(pilot, lambda: client.sent("campaign_list") and client.sent("campaign_list")[-1].search
                    == "spring", what="daemon searched")
        await pilot.pause(0.3)
        await pilot.press("down", "enter")
        await until(pilot, lambda: type(app.screen).__name__ == "CampaignDetailScreen", what="detail opened")
        assert app.screen.campaign_id == 1


@pytest.mark.asyncio
async def test_palette_finds_a_contact_and_opens_the_inbox_for_them():
    client = CampaignClient()
    app = GatewayApp(client, tick_s=0.02, status_every_s=60)
    async with app.run_test(size=(100, 30)) as pilot:
        await palette(pilot, app, "Cy Doe")
        await until(pilot, lambda: client.sent("contacts_list"), what="daemon searched")
        await pilot.pause(0.3)
        await pilot.press("down", "enter")
        await until(pilot, lambda: type(app.screen).__name__ == "InboxScreen", what="inbox")
        await until(pilot, lambda: client.sent("inbox_list")[-1].search == "+14155550203", what="inbox searched")


@pytest.mark.asyncio
async def test_palette_switches_screens():
    client = CampaignClient()
    app = GatewayApp(client, tick_s=0.02, status_every_s=60)
    async with app.run_test(size=(100, 30)) as pilot:
        await palette(pilot, app, "go to links")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(pilot, lambda: type(app.screen).__name__ == "LinksScreen", what="links")
