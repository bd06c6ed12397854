"""Inbox triage: needs-attention first, thread with statuses, reply/tag/assign/toggle/opt-out, live."""

from __future__ import annotations

import pytest
from fake_campaigns import CampaignClient
from helpers import cells, notes, until
from textual.widgets import DataTable, OptionList

from gatewaytui.app import GatewayApp
from gatewaytui.widgets.inbox_panel import InboxPanel


async def open_inbox(pilot, app) -> InboxPanel:
    await until(pilot, lambda: app.identity is not None and app.status is not None)
    await pilot.press("i")
    await until(pilot, lambda: type(app.screen).__name__ == "InboxScreen")
    panel = app.screen.query_one(InboxPanel)
    await until(pilot, lambda: panel.detail is not None, what="first conversation open")
    return panel


def thread(panel) -> str:
    return str(panel.query_one("#ib-thread").render())


@pytest.mark.asyncio
async def test_opens_on_needs_attention_and_marks_read():
    client = CampaignClient()
    app = GatewayApp(client, tick_s=0.02, status_every_s=60)
    async with app.run_test(size=(100, 30)) as pilot:
        panel = await open_inbox(pilot, app)
        assert panel.section == "needs_attention"
        assert client.sent("inbox_list")[-1].section == "needs_attention"
        assert cells(panel.query_one("#ib-list", DataTable))[0][:2] == ["!", "Ada Doe"]
        sections = str(panel.query_one("#ib-sections").render())
        assert "Needs attention 1" in sections and "Agent-operated 1" in sections
        assert "needs attention (new message from the contact)" in thread(panel)
        await until(pilot, lambda: client.sent("inbox_read"), what="marked read")
        await pilot.press("0")
        await until(pilot, lambda: panel.query_one("#ib-list", DataTable).row_count == 3, what="all sections")


@pytest.mark.asyncio
async def test_thread_shows_statuses_and_undelivered_reason():
    client = CampaignClient()
    app = GatewayApp(client, tick_s=0.02, status_every_s=60)
    async with app.run_test(size=(100, 30)) as pilot:
        panel = await open_inbox(pilot, app)
        await pilot.press("2")
        await until(pilot, lambda: panel.detail and panel.detail.conversation.id == 2, what="Bob open")
        await pilot.pause()
        text = thread(panel)
        assert "● undelivered" in text and "reason: 0x0b unknown subscriber" in text
        assert "✔ delivered" in text and "← " in text and "reply from Bob" in text


@pytest.mark.asyncio
async def test_reply_then_move_on_with_keyboard():
    client = CampaignClient()
    app = GatewayApp(client, tick_s=0.02, status_every_s=60)
    async with app.run_test(size=(100, 30)) as pilot:
        panel = await open_inbox(pilot, app)
        await pilot.press("0")
        await until(pilot, lambda: panel.query_one("#ib-list", DataTable).row_count == 3)
        await until(pilot, lambda: panel.detail is not None and panel.detail.conversation.id == 3, what="newest open")
        panel.query_one("#ib-list").focus()
        await pilot.press("r")
        assert app.focused is panel.query_one("#ib-reply")
        await pilot.press(*"See you at 10", "enter")
        await until(pilot, lambda: client.sent("inbox_reply"), what="reply sent")
        assert (client.sent("inbox_reply")[0].conversation_id, client.sent("inbox_reply")[0].text) == (3, "See you at 10")
        await until(pilot, lambda: "See you at 10" in thread(panel), what="reply in thread")
        assert "↻ pending" in thread(panel)
        await pilot.press("escape", "j")
        await until(pilot, lambda: panel.detail.conversation.id != 3, what="next conversation")


@pytest.mark.asyncio
async def test_tag_assign_toggle_and_opt_out():
    client = CampaignClient()
    app = GatewayApp(client, tick_s=0.02, status_every_s=60)
    async with app.run_test(size=(100, 30)) as pilot:
        panel = await open_inbox(pilot, app)
        panel.query_one("#ib-list").focus()
        await pilot.press("t")
        await until(pilot, lambda: type(app.screen).__name__ == "PromptScreen")
        await pilot.press(*"vip", "enter")
        await until(pilot, lambda: client.sent("inbox_tag"), what="tag")
        await until(pilot, lambda: "tags: vip" in thread(panel), what="tag shown")
        await pilot.press("a")
        await until(pilot, lambda: type(app.screen).__name__ == "PickScreen")
        await pilot.press("enter")
        await until(pilot, lambda: client.sent("inbox_assign") and client.sent("inbox_assign")[0].user == "alice")
        await until(pilot, lambda: "assigned to alice" in thread(panel))
        await pilot.press("exclamation_mark")
        await until(pilot, lambda: client.sent("inbox_attention") and client.sent("inbox_attention")[0].on is False)
        await pilot.press("b")
        await until(pilot, lambda: client.sent("inbox_operated_by"))
        assert client.sent("inbox_operated_by")[0].operated_by == "assistant"
        await until(pilot, lambda: "Assistant-operated" in thread(panel))
        await pilot.press("x")
        await until(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen")
        assert "campaign #1" in str(app.screen.query_one(".dialog-body").render())
        await pilot.press("y")
        await until(pilot, lambda: client.sent("inbox_opt_out"), what="opt out")
        await until(pilot, lambda: "OPTED OUT" in thread(panel))


def picker_rows(app) -> list[str]:
    options = app.screen.query_one("#pick-list", OptionList)
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


@pytest.mark.asyncio
async def test_assign_picks_from_the_daemons_list_by_keyboard():
    client = CampaignClient()
    app = GatewayApp(client, tick_s=0.02, status_every_s=60)
    async with app.run_test(size=(100, 30)) as pilot:
        panel = await open_inbox(pilot, app)
        panel.query_one("#ib-list").focus()
        await pilot.press("a")
        await until(pilot, lambda: type(app.screen).__name__ == "PickScreen", what="picker")
        assert client.sent("inbox_assignees")
        assert picker_rows(app) == ["me (alice)  agent · main", "bob  agent · main", "ops  admin · main"]
        await pilot.press("escape")                                    # Esc changes nothing
        await until(pilot, lambda: type(app.screen).__name__ == "InboxScreen")
        await pilot.press("a")
        await until(pilot, lambda: type(app.screen).__name__ == "PickScreen")
        await pilot.press("down", "enter")                             # the second row: bob
        await until(pilot, lambda: "assigned to bob" in thread(panel), what="assigned to bob")
        assert client.sent("inbox_assign")[-1].user == "bob"
        await pilot.press("a")
        await until(pilot, lambda: type(app.screen).__name__ == "PickScreen" and len(picker_rows(app)) == 4)
        assert picker_rows(app)[1:] == ["bob  agent · main  (assigned)", "ops  admin · main", "Unassign (now bob)"]
        await pilot.press(*"ops", "enter")                             # type to filter
        await until(pilot, lambda: "assigned to ops" in thread(panel), what="assigned to ops")
        await pilot.press("a")
        await until(pilot, lambda: type(app.screen).__name__ == "PickScreen" and len(picker_rows(app)) == 4)
        await pilot.press(*"unassign", "enter")
        await until(pilot, lambda: client.sent("inbox_assign")[-1].user is None, what="unassigned")
        await until(pilot, lambda: any("Unassigned." in n for n in notes(app)))
        assert [r.user for r in client.sent("inbox_assign")] == ["bob", "ops", None]


@pytest.mark.asyncio
async def test_fourth_tag_is_refused_before_asking():
    client = CampaignClient()
    client.conversations[1] = client.conversations[1].__class__(
        **{**{f: getattr(client.conversations[1], f) for f in client.conversations[1].__struct_fields__},
           "tags": ["a", "b", "c"]})
    app = GatewayApp(client, tick_s=0.02, status_every_s=60)
    async with app.run_test(size=(100, 30)) as pilot:
        panel = await open_inbox(pilot, app)
        panel.query_one("#ib-list").focus()
        await pilot.press("t")
        await until(pilot, lambda: any("at most 3 tags" in n for n in notes(app)))
        assert type(app.screen).__name__ == "InboxScreen"


@pytest.mark.asyncio
async def test_live_message_reloads_thread_and_notifies():
    client = CampaignClient()
    app = GatewayApp(client, tick_s=0.02, status_every_s=60)
    async with app.run_test(size=(100, 30)) as pilot:
        panel = await open_inbox(pilot, app)
        shows = len(client.sent("inbox_show"))
        client.push("inbound", id=7, sender="+14155550001", recipient="+14155550100", text="Are you open today?",
                    conversation_id=1)
        client.push("conversation.message", id=1, office="main")
        await until(pilot, lambda: len(client.sent("inbox_show")) > shows, what="thread reload")
        await until(pilot, lambda: any("Are you open today?" in n for n in notes(app)), what="notification")


@pytest.mark.asyncio
async def test_a_stream_of_replies_makes_one_toast_then_a_summary_not_one_toast_each():
    client = CampaignClient()
    app = GatewayApp(client, tick_s=0.02, status_every_s=60, reply_toast_every_s=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.identity is not None)
        for i in range(6):
            client.push("inbound", id=20 + i, sender=f"+1415555000{i}", recipient="+14155550100", text=f"reply {i}",
                        conversation_id=1)
            await pilot.pause(0.05)
        await until(pilot, lambda: len(app._replies_held) == 5, what="the later replies held back")
        replies = lambda: [n for n in notes(app) if "reply " in n or "new replies" in n]  # noqa: E731
        assert len(replies()) == 1 and "reply 0" in replies()[0]
        app.reply_toast_every_s = 0          # the quiet interval is over
        await until(pilot, lambda: len(replies()) == 2, what="the summary")
        assert "5 new replies" in replies()[1]


@pytest.mark.asyncio
async def test_viewer_reads_but_cannot_act():
    client = CampaignClient(role="viewer")
    app = GatewayApp(client, tick_s=0.02, status_every_s=60)
    async with app.run_test(size=(100, 30)) as pilot:
        panel = await open_inbox(pilot, app)
        assert not panel.query_one("#ib-reply").display
        acts = {b.binding.action for b in app.screen.active_bindings.values()}
        assert not ({"reply", "tag", "assign", "opt_out", "attention"} & acts)
        await pilot.press("r", "t", "a", "x")
        await pilot.pause()
        assert not (client.sent("inbox_tag") or client.sent("inbox_assign") or client.sent("inbox_read"))


@pytest.mark.asyncio
async def test_answered_conversation_leaves_needs_attention_and_next_is_one_key_away():
    client = CampaignClient()
    client._conv(2, needs_attention=True)
    app = GatewayApp(client, tick_s=0.02, status_every_s=60)
    async with app.run_test(size=(100, 30)) as pilot:
        panel = await open_inbox(pilot, app)
        table = panel.query_one("#ib-list", DataTable)
        await until(pilot, lambda: table.row_count == 2, what="two need attention")
        first = panel.detail.conversation.id
        panel.query_one("#ib-list").focus()
        await pilot.press("r", *"On it", "enter")
        await until(pilot, lambda: table.row_count == 1, what="answered one left the section")
        assert panel.detail.conversation.id == first          # still reading what was just answered
        await pilot.press("escape", "j")
        await until(pilot, lambda: panel.detail.conversation.id != first, what="next needing attention")
        assert panel.detail.conversation.needs_attention
