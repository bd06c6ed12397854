"""Campaigns screen: the seed's tabs, columns, calendar and the actions each status allows."""

from __future__ import annotations

import datetime as dt

import pytest
from fake_campaigns import CampaignClient
from fake_client import T0
from helpers import cells, notes, until
from textual.widgets import DataTable, Input

from gatewaytui.app import GatewayApp
from gatewaytui.widgets.calendar import MonthCalendar


def app_for(client) -> GatewayApp:
    return GatewayApp(client, tick_s=0.02, status_every_s=60)


async def open_tab(pilot, app, tab: str) -> DataTable:
    await until(pilot, lambda: app.identity is not None and app.status is not None)
    await pilot.press("c")
    await until(pilot, lambda: type(app.screen).__name__ == "CampaignsScreen")
    screen = app.screen
    for _ in range(["active", "scheduled", "draft", "archived"].index(tab)):
        await pilot.press("right_square_bracket")
    await until(pilot, lambda: screen.tab == tab and screen.rows[tab], what=f"{tab} rows")
    table = screen.query_one(f"#t-{tab}", DataTable)
    table.focus()
    await pilot.pause()
    return table


def actions(app) -> set[str]:
    return {b.binding.action for b in app.screen.active_bindings.values() if b.enabled}


@pytest.mark.asyncio
async def test_active_tab_has_the_seed_columns_and_status_actions():
    client = CampaignClient()
    app = app_for(client)
    async with app.run_test(size=(120, 40)) as pilot:
        table = await open_tab(pilot, app, "active")
        labels = [str(c.label) for c in table.columns.values()]
        assert labels[:8] == ["Title", "Office", "Phone Number", "Contact List", "Operated By", "Tags",
                              "Last updated", "Launched"]
        assert cells(table)[0][:6] == ["Spring sale", "main", "+14155550100", "vip", "Agent", "spring"]
        assert not client.sent("lists")                   # the list's name comes with the row
        assert client.sent("campaign_list")[-1].status == ["processing", "sending", "paused", "suspended",
                                                             "finished", "stopped"]
        assert {"pause_resume", "stop_archive", "clone"} <= actions(app)
        assert "launch" not in actions(app) and "edit" not in actions(app)
        await pilot.press("t")           # time zone on demand
        await until(pilot, lambda: cells(table)[0][7].endswith("UTC"), what="zoned launch time")


@pytest.mark.asyncio
async def test_pause_clone_and_stop_and_archive_with_explanation():
    client = CampaignClient()
    app = app_for(client)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_tab(pilot, app, "active")
        await pilot.press("p")
        await until(pilot, lambda: client.sent("campaign_action"), what="pause")
        assert (client.sent("campaign_action")[0].campaign_id, client.sent("campaign_action")[0].action) == (1, "pause")
        await until(pilot, lambda: any("paused" in n for n in notes(app)))
        await pilot.press("k")
        await until(pilot, lambda: len(client.sent("campaign_action")) == 2)
        await until(pilot, lambda: any("Cloned 'Spring sale' as draft #5" in n for n in notes(app)))
        await pilot.press("x")
        await until(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen")
        body = str(app.screen.query_one(".dialog-body").render())
        assert "need attention move to the inbox(es)" in body and "unsolicited-message settings" in body
        await pilot.press("y")
        await until(pilot, lambda: client.sent("campaign_action")[-1].action == "archive", what="archive")


@pytest.mark.asyncio
async def test_draft_launch_is_greyed_out_with_reasons_until_ready():
    client = CampaignClient()
    app = app_for(client)
    async with app.run_test(size=(120, 40)) as pilot:
        table = await open_tab(pilot, app, "draft")
        await pilot.pause()
        info = str(app.screen.query_one("#camp-info").render())
        assert "Launch disabled: no contact list chosen; no number chosen" in info
        assert cells(table)[0][-1] == "✖ 2 issue(s)"
        assert "launch" not in actions(app) and {"edit", "archive", "clone"} <= actions(app)
        await pilot.press("L")
        assert not any(r.action == "launch" for r in client.sent("campaign_action"))
        # the rows carry the readiness: no request per draft, no list lookup
        assert not (client.sent("campaign_show") or client.sent("lists"))
        client.not_ready[3] = []
        client.push("campaign.updated", id=3)      # e.g. edited elsewhere: the tab reloads
        await until(pilot, lambda: "launch" in actions(app), what="launch enabled")
        assert cells(table)[0][-1] == "✔ ready"
        assert "Launch disabled" not in str(app.screen.query_one("#camp-info").render())
        await pilot.press("L")
        await until(pilot, lambda: client.sent("campaign_action") and client.sent("campaign_action")[-1].action
                    == "launch", what="launch sent")
        assert not client.sent("campaign_show")


@pytest.mark.asyncio
async def test_a_contacts_import_elsewhere_refreshes_draft_readiness():
    client = CampaignClient()
    app = app_for(client)
    async with app.run_test(size=(120, 40)) as pilot:
        table = await open_tab(pilot, app, "draft")
        await pilot.pause()
        assert cells(table)[0][-1] == "✖ 2 issue(s)"
        client.not_ready[3] = ["list vip is empty"]
        client.push("contacts.imported", list="vip", imported=3, merged=0, invalid=0)
        await until(pilot, lambda: cells(table)[0][-1] == "✖ 1 issue(s)", what="readiness refreshed")
        assert "list vip is empty" in str(app.screen.query_one("#camp-info").render())


@pytest.mark.asyncio
async def test_scheduled_calendar_counts_days_and_lists_the_day():
    client = CampaignClient()
    app = app_for(client)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.status is not None)
        await pilot.press("c", "right_square_bracket")
        await until(pilot, lambda: app.screen.rows["scheduled"], what="scheduled rows")
        cal = app.screen.query_one(MonthCalendar)
        due = dt.datetime.fromtimestamp(T0 + 86400 * 2).date()
        assert cal.counts == {due: 1}
        cal.day = due
        await pilot.pause()
        day = str(app.screen.query_one("#sched-day").render())
        assert "Weekly digest" in day and "+14155550100 · main · vip" in day and "0 9 * * 1" in day
        assert f"{due.day:>2}·1" in str(cal.render())
        cal.focus()
        await pilot.press("plus")
        await until(pilot, lambda: type(app.screen).__name__ == "WizardScreen", what="wizard from a day")
        assert app.screen.query_one("#wz-at").value == f"{due:%Y-%m-%d}T09:00"
        await pilot.press("escape")
        await pilot.press("v")
        await until(pilot, lambda: app.screen.query_one("#t-scheduled").display, what="table view")
        assert cells(app.screen.query_one("#t-scheduled", DataTable))[0][0] == "Weekly digest"


@pytest.mark.asyncio
async def test_search_and_tag_filter_go_to_the_daemon():
    client = CampaignClient()
    app = app_for(client)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_tab(pilot, app, "active")
        await pilot.press("slash")
        await until(pilot, lambda: isinstance(app.focused, Input), what="search box focused")
        await pilot.press(*"spring", "space", "number_sign", *"sale", "enter")
        await until(pilot, lambda: client.sent("campaign_list")[-1].tag == "sale", what="filtered request")
        assert client.sent("campaign_list")[-1].search == "spring"
        await until(pilot, lambda: app.screen.rows["active"] == [], what="no match")
        assert "No campaign selected" in str(app.screen.query_one("#camp-info").render())


@pytest.mark.asyncio
async def test_viewer_can_only_look():
    client = CampaignClient(role="viewer")
    app = app_for(client)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_tab(pilot, app, "active")
        assert not ({"new", "clone", "pause_resume", "stop_archive"} & actions(app))
        await pilot.press("p", "k", "x", "w")
        await pilot.pause()
        assert client.sent("campaign_action") == [] and type(app.screen).__name__ == "CampaignsScreen"
        await pilot.press("enter")
        await until(pilot, lambda: type(app.screen).__name__ == "CampaignDetailScreen", what="view allowed")
