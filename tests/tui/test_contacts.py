"""Contacts, lists and suppressions: paging/search, list drill-down, import/export, lift with confirmation."""

from __future__ import annotations

import pytest
from fake_campaigns import CampaignClient
from helpers import cells, column, notes, until
from textual.widgets import DataTable

from gatewaytui.app import GatewayApp


async def open_contacts(pilot, app):
    await until(pilot, lambda: app.identity is not None and app.status is not None)
    await pilot.press("o")
    await until(pilot, lambda: type(app.screen).__name__ == "ContactsScreen")
    table = app.screen.query_one("#ct-table", DataTable)
    await until(pilot, lambda: table.row_count == 3, what="contacts")
    return table


async def go_tab(pilot, app, tab):
    for _ in range(4):
        if app.screen.tab == tab:
            break
        await pilot.press("right_square_bracket")
        await pilot.pause()
    assert app.screen.tab == tab, f"stuck on tab {app.screen.tab!r}; focus {app.focused!r}"


@pytest.mark.asyncio
async def test_contacts_search_and_list_drill_down():
    client = CampaignClient()
    app = GatewayApp(client, tick_s=0.02, status_every_s=60)
    async with app.run_test(size=(100, 30)) as pilot:
        table = await open_contacts(pilot, app)
        assert cells(table)[0][:3] == ["Ada", "Doe", "+14155550201"] and cells(table)[0][4] == "city=Paris"
        assert client.sent("contacts_list")[0].limit == 100
        await pilot.press("slash", *"bob", "enter")
        await until(pilot, lambda: column(table, 0) == ["Bob"], what="search")
        await go_tab(pilot, app, "lists")
        lists = app.screen.query_one("#ls-table", DataTable)
        await until(pilot, lambda: lists.row_count == 1)
        lists.focus()
        await pilot.press("enter")
        await until(pilot, lambda: app.screen.tab == "contacts" and client.sent("contacts_list")[-1].list_name == "vip")
        assert "list vip" in str(app.screen.query_one("#ct-caption").render())


@pytest.mark.asyncio
async def test_import_and_export(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "new.csv").write_text("first_name,last_name,phone\nZoe,Q,+14155550401\nX,Y,bad\n")
    client = CampaignClient()
    app = GatewayApp(client, tick_s=0.02, status_every_s=60)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_contacts(pilot, app)
        await pilot.press("I")
        await until(pilot, lambda: type(app.screen).__name__ == "ImportScreen")
        await pilot.press(*str(tmp_path / "new.csv"), "enter")
        await until(pilot, lambda: "imported" in str(app.screen.query_one("#imp-report").render()), what="report")
        assert "new: 1 imported, 0 merged, 1 invalid" in str(app.screen.query_one("#imp-report").render())
        await pilot.press("escape")
        await until(pilot, lambda: client.sent("contacts_list")[-1].list_name == "new", what="shows the new list")
        await pilot.press("E")
        out = tmp_path / "contacts-new.csv"
        await until(pilot, lambda: any("written to" in n for n in notes(app)), what="export")
        assert out.read_text().splitlines()[0] == "first_name,last_name,phone,created_at,city"


@pytest.mark.asyncio
async def test_suppressions_show_reasons_and_lift_needs_confirmation():
    client = CampaignClient()
    app = GatewayApp(client, tick_s=0.02, status_every_s=60)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_contacts(pilot, app)
        await go_tab(pilot, app, "suppressions")
        table = app.screen.query_one("#sp-table", DataTable)
        await until(pilot, lambda: table.row_count == 2)
        assert cells(table)[1][:5] == ["+14155550209", "number", "+14155550100", "failed in 7 campaigns", "auto"]
        table.focus()
        await pilot.press("down", "x")
        await until(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen")
        assert "automatic unsubscribe" in str(app.screen.query_one(".dialog-body").render())
        await pilot.press("n")
        assert client.sent("opt_in") == []
        await pilot.press("x", "y")
        await until(pilot, lambda: client.sent("opt_in"), what="lifted")
        assert (client.sent("opt_in")[0].phone, client.sent("opt_in")[0].number) == ("+14155550209", "+14155550100")
        await until(pilot, lambda: table.row_count == 1, what="list refreshed")


@pytest.mark.asyncio
async def test_agent_cannot_lift_a_suppression_that_applies_everywhere():
    client = CampaignClient(role="agent")
    app = GatewayApp(client, tick_s=0.02, status_every_s=60)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_contacts(pilot, app)
        await go_tab(pilot, app, "suppressions")
        table = app.screen.query_one("#sp-table", DataTable)
        await until(pilot, lambda: table.row_count == 2)
        table.focus()
        await pilot.press("x")
        await until(pilot, lambda: any("Only an admin" in n for n in notes(app)))
        assert client.sent("opt_in") == []
