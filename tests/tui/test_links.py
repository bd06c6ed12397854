"""Links and numbers: enable/disable with a confirmation that explains the consequence, admins only."""

from __future__ import annotations

import msgspec
import pytest
from fake_client import FakeClient
from helpers import cells, rows_by_label, until

from gatewaytui.app import GatewayApp
from gatewaytui.widgets.status import LinksTable, NumbersTable


async def open_links(pilot, app):
    await until(pilot, lambda: app.status is not None and app.identity is not None)
    await pilot.press("l")
    await until(pilot, lambda: type(app.screen).__name__ == "LinksScreen")
    await until(pilot, lambda: app.screen.query_one(LinksTable).row_count > 0)


@pytest.mark.asyncio
async def test_admin_disables_a_link_after_confirming():
    client = FakeClient()
    app = GatewayApp(client, tick_s=0.02, status_every_s=60)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_links(pilot, app)
        await pilot.press("e")
        await until(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen")
        body = str(app.screen.query_one(".dialog-body").render())
        assert "Nothing more is submitted on link sim" in body
        await pilot.press("y")
        await until(pilot, lambda: client.sent("set_enabled"), what="set_enabled")
        req = client.sent("set_enabled")[0]
        assert (req.kind, req.name, req.enabled) == ("link", "sim", False)
        await until(pilot, lambda: rows_by_label(app.screen.query_one(LinksTable))[0]["State"] == "disabled",
                    what="redraw")


@pytest.mark.asyncio
async def test_admin_disables_the_selected_number_and_can_back_out():
    client = FakeClient()
    app = GatewayApp(client, tick_s=0.02, status_every_s=60)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_links(pilot, app)
        await pilot.press("tab")            # numbers table
        await pilot.press("down")           # ACME
        assert app.screen.focused is app.screen.query_one(NumbersTable)
        await pilot.press("e")
        await until(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen")
        assert "Messages from ACME are no longer sent" in str(app.screen.query_one(".dialog-body").render())
        await pilot.press("escape")
        assert client.sent("set_enabled") == []
        await pilot.press("e", "y")
        await until(pilot, lambda: client.sent("set_enabled"), what="set_enabled")
        assert (client.sent("set_enabled")[0].kind, client.sent("set_enabled")[0].name) == ("number", "ACME")


@pytest.mark.asyncio
@pytest.mark.parametrize("role", ["agent", "viewer"])
async def test_non_admins_do_not_get_the_toggle(role):
    client = FakeClient(role=role)
    app = GatewayApp(client, tick_s=0.02, status_every_s=60)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_links(pilot, app)
        assert "toggle" not in {b.binding.action for b in app.screen.active_bindings.values()}
        await pilot.press("e")
        await pilot.pause()
        assert type(app.screen).__name__ == "LinksScreen" and client.sent("set_enabled") == []


@pytest.mark.asyncio
async def test_help_lists_the_keys_of_the_current_screen():
    client = FakeClient()
    app = GatewayApp(client, tick_s=0.02, status_every_s=60)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_links(pilot, app)
        await pilot.press("question_mark")
        await until(pilot, lambda: type(app.screen).__name__ == "HelpScreen")
        rows = cells(app.screen.query_one("#help-keys"))
        actions = {r[1] for r in rows}
        assert {"Enable/disable", "Refresh", "New SMS", "Quit"} <= actions
        await pilot.press("escape")
        assert type(app.screen).__name__ == "LinksScreen"


@pytest.mark.asyncio
async def test_links_show_the_learned_rate_and_a_narrowed_window():
    from fake_client import link
    client = FakeClient()
    client.status.links = [msgspec.structs.replace(link(), rate=287.4, window=4, in_flight=4, max_window=10)]
    app = GatewayApp(client, tick_s=0.02, status_every_s=60)
    async with app.run_test(size=(140, 30)) as pilot:
        await open_links(pilot, app)
        row = rows_by_label(app.screen.query_one(LinksTable))[0]
        assert row["Rate/s"] == "287"
        assert row["Window"] == "4/4 of 10"
