"""Message list: pages (never everything), live state updates, detail with segments and history."""

from __future__ import annotations

import pytest
from fake_client import FakeClient
from helpers import cells, column, until
from textual.widgets import DataTable

from gatewaytui.app import GatewayApp


async def open_messages(pilot, app):
    await until(pilot, lambda: app.status is not None)
    await pilot.press("m")
    await until(pilot, lambda: type(app.screen).__name__ == "MessagesScreen")
    table = app.screen.query_one("#msg-table", DataTable)
    await until(pilot, lambda: table.row_count > 0, what="first page")
    return table


@pytest.mark.asyncio
async def test_pages_newest_first_and_only_one_page_at_a_time():
    client = FakeClient(messages=120)
    app = GatewayApp(client, tick_s=0.02, status_every_s=60)
    async with app.run_test(size=(80, 24)) as pilot:
        table = await open_messages(pilot, app)
        assert table.row_count == 50
        assert column(table, 0)[:3] == ["120", "119", "118"]
        assert all(r.limit == 50 for r in client.sent("list_messages"))
        await pilot.press("right_square_bracket")
        await until(pilot, lambda: column(table, 0)[0] == "70", what="page 2")
        await pilot.press("right_square_bracket")
        await until(pilot, lambda: column(table, 0)[0] == "20", what="page 3")
        assert table.row_count == 20
        assert "oldest page" in str(app.screen.query_one("#msg-caption").render())
        await pilot.press("left_square_bracket")
        await until(pilot, lambda: column(table, 0)[0] == "70", what="back to page 2")
        await pilot.press("g")
        await until(pilot, lambda: column(table, 0)[0] == "120", what="newest page")


@pytest.mark.asyncio
async def test_live_state_change_updates_the_row_and_new_messages_appear_on_top():
    client = FakeClient(messages=3)
    app = GatewayApp(client, tick_s=0.02, status_every_s=60)
    async with app.run_test(size=(80, 24)) as pilot:
        table = await open_messages(pilot, app)
        client.push("message.state", id=2, state="undelivered")
        await until(pilot, lambda: cells(table)[1][4] == "● undelivered", what="state cell")
        from gatewayd.protocol import Send
        client.op_send(Send(sender="+14155550100", to="+14155550999", text="fresh"))
        client.push("message.state", id=4, state="queued")
        await until(pilot, lambda: column(table, 0)[0] == "4", what="new message on top")
        assert cells(table)[0][3] == "+14155550999"


@pytest.mark.asyncio
async def test_state_filter_and_recipient_search_go_to_the_daemon():
    client = FakeClient(messages=10)
    app = GatewayApp(client, tick_s=0.02, status_every_s=60)
    async with app.run_test(size=(80, 24)) as pilot:
        table = await open_messages(pilot, app)
        await pilot.press("s")      # all -> queued
        await until(pilot, lambda: client.sent("list_messages")[-1].state is not None)
        assert client.sent("list_messages")[-1].state.value == "queued"
        await until(pilot, lambda: table.row_count == 0, what="no queued messages")
        assert "No messages" in str(app.screen.query_one("#msg-caption").render())
        for _ in range(10):          # cycle back to all states
            await pilot.press("s")
        await until(pilot, lambda: client.sent("list_messages")[-1].state is None)
        await pilot.press("slash")
        await pilot.press(*"+14155550003", "enter")
        await until(pilot, lambda: table.row_count == 1, what="filtered")
        assert client.sent("list_messages")[-1].recipient == "+14155550003"


@pytest.mark.asyncio
async def test_enter_opens_detail_with_segments_history_and_retry():
    client = FakeClient(messages=3)
    client.set_message(3, "undelivered", error_code="0x0b", error_text="invalid destination")
    app = GatewayApp(client, tick_s=0.02, status_every_s=60)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_messages(pilot, app)
        await pilot.press("enter")
        await until(pilot, lambda: type(app.screen).__name__ == "MessageDetailScreen")
        await until(pilot, lambda: app.screen.detail is not None, what="detail loaded")
        await pilot.pause()
        summary = str(app.screen.query_one("#md-summary").render())
        assert "undelivered" in summary and "invalid destination" in summary and "hello 3" in summary
        assert cells(app.screen.query_one("#md-segments", DataTable))[0][2] == "1a2b"
        assert [r[1] for r in cells(app.screen.query_one("#md-history", DataTable))][:2] == ["↻ queued", "✓ sent"]
        keys = {b.binding.action for b in app.screen.active_bindings.values() if b.enabled}
        assert "retry" in keys and "cancel_message" not in keys    # cancel only while queued
        await pilot.press("r")
        await until(pilot, lambda: client.sent("retry"), what="retry sent")
        assert client.sent("retry")[0].message_id == 3
        await until(pilot, lambda: app.screen.detail.message.state.value == "queued", what="reloaded")
        await pilot.press("escape")
        assert type(app.screen).__name__ == "MessagesScreen"


@pytest.mark.asyncio
async def test_cancel_asks_first_and_viewer_cannot():
    client = FakeClient(messages=2)
    client.set_message(2, "queued")
    app = GatewayApp(client, tick_s=0.02, status_every_s=60)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_messages(pilot, app)
        await pilot.press("enter")
        await until(pilot, lambda: getattr(app.screen, "detail", None) is not None)
        await pilot.press("x")
        await until(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen")
        await pilot.press("n")
        assert client.sent("cancel") == []
        await pilot.press("x")
        await until(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen")
        await pilot.press("y")
        await until(pilot, lambda: client.sent("cancel"), what="cancel sent")

    viewer = FakeClient(messages=2, role="viewer")
    app = GatewayApp(viewer, tick_s=0.02, status_every_s=60)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_messages(pilot, app)
        await until(pilot, lambda: app.identity is not None)
        await pilot.press("enter")
        await until(pilot, lambda: getattr(app.screen, "detail", None) is not None)
        keys = {b.binding.action for b in app.screen.active_bindings.values()}
        assert "retry" not in keys and "cancel_message" not in keys
        await pilot.press("x", "r")
        await pilot.pause()
        assert viewer.sent("cancel") == [] and viewer.sent("retry") == []
