"""End to end on a real daemon: build a campaign in the wizard (new script, CSV import), launch it,
watch its analytics move live, and answer a contact's reply from the inbox; and a multi-step
script with a weekly schedule written in the wizard, accepted and scheduled by the daemon."""

from __future__ import annotations

import pytest
import datetime as dt
from zoneinfo import ZoneInfo

from daemon import Daemon
from helpers import until
from textual.widgets import Select

from gatewayd import protocol as P
from gatewaytui.app import GatewayApp
from gatewaytui.client import SocketClient
from gatewaytui.screens.wizard import NEW_SCRIPT, STEPS
from gatewaytui.views import Campaign, Script
from gatewaytui.widgets.inbox_panel import InboxPanel

pytestmark = pytest.mark.e2e


@pytest.fixture
def daemon():
    d = Daemon(reply_share=1.0).start()
    yield d
    d.cleanup()


@pytest.mark.asyncio
async def test_wizard_launch_analytics_and_inbox_reply(daemon, tmp_path):
    people = tmp_path / "people.csv"
    people.write_text("first_name,last_name,phone,city\nAda,Lovelace,+14155550201,London\n"
                      "Grace,Hopper,+14155550202,NYC\nNot,Valid,12,Nowhere\n")
    app = GatewayApp(SocketClient(daemon.socket), tick_s=0.05, status_every_s=1.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.identity is not None and app.status is not None, 15, "connected")
        await pilot.press("c")
        await until(pilot, lambda: type(app.screen).__name__ == "CampaignsScreen")
        await pilot.press("w")
        await until(pilot, lambda: type(app.screen).__name__ == "WizardScreen")
        wz = app.screen
        await until(pilot, lambda: wz.query_one("#wz-script", Select)._options, 10, "script choices")
        wz.query_one("#wz-script", Select).value = NEW_SCRIPT
        await pilot.pause()
        wz.query_one("#wz-script-name").value = "hello-e2e"
        wz.query_one(".step-text").text = "Hi {first_name}, see you in {city}?"
        await pilot.press("ctrl+n")
        await until(pilot, lambda: wz.step == 1, 10, "script created, contacts step")
        wz.query_one("#wz-csv").value = str(people)
        wz.query_one("#wz-csv-list").value = "e2e-people"
        await pilot.click("#wz-import")
        await until(pilot, lambda: "2 imported" in str(wz.query_one("#wz-import-report").render()), 10, "import")
        assert "row 4" in str(wz.query_one("#wz-import-report").render())
        await pilot.press("ctrl+n")
        wz.query_one("#wz-name").value = "E2E launch"
        wz.query_one("#wz-number", Select).value = "+14155550100"
        for _ in range(3):
            await pilot.press("ctrl+n")
        await until(pilot, lambda: "Hi Ada, see you in London?" in str(wz.query_one("#wz-review").render()), 10,
                    "rendered preview")
        await pilot.press("ctrl+l")
        await until(pilot, lambda: type(app.screen).__name__ == "CampaignsScreen", 10, "wizard closed")
        screen = app.screen
        await until(pilot, lambda: any(c.name == "E2E launch" for c in screen.rows["active"]), 15, "launched, active")

        screen.query_one("#t-active").focus()
        await pilot.press("enter")
        await until(pilot, lambda: type(app.screen).__name__ == "CampaignDetailScreen")
        detail = app.screen
        while detail.tab != "analytics":
            await pilot.press("right_square_bracket")
            await pilot.pause()
        await until(pilot, lambda: detail.report is not None and detail.report.send_status.succeeded == 2, 30,
                    "analytics show both sends")
        await until(pilot, lambda: detail.report.engagement.contacts_responded >= 1, 30, "responses counted live")

        await pilot.press("escape", "i")
        await until(pilot, lambda: type(app.screen).__name__ == "InboxScreen")
        panel = app.screen.query_one(InboxPanel)
        await until(pilot, lambda: panel.detail is not None and panel.detail.conversation.needs_attention, 30,
                    "a reply needs attention")
        who = panel.detail.conversation.phone
        panel.query_one("#ib-list").focus()
        await pilot.press("r", *"Great, see you there", "enter")
        await until(pilot, lambda: any(m.direction == "out" and m.text == "Great, see you there"
                                       for m in (panel.detail.messages if panel.detail and
                                                 panel.detail.conversation.phone == who else [])), 20,
                    "reply in the thread")
        await until(pilot, lambda: any(m.text == "Great, see you there" and m.status in ("sent", "delivered")
                                       for m in panel.detail.messages), 30, "reply delivered")


@pytest.fixture
def quiet_daemon():
    d = Daemon(reply_share=0.0).start()
    yield d
    d.cleanup()


@pytest.mark.asyncio
async def test_wizard_multi_step_script_and_weekly_schedule_on_the_daemon(quiet_daemon, tmp_path):
    people = tmp_path / "drip.csv"
    people.write_text("first_name,last_name,phone,city\nAda,Lovelace,+14155550211,London\n")
    app = GatewayApp(SocketClient(quiet_daemon.socket), tick_s=0.05, status_every_s=1.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.identity is not None and app.status is not None, 15, "connected")
        await pilot.press("c")
        await until(pilot, lambda: type(app.screen).__name__ == "CampaignsScreen")
        await pilot.press("w")
        await until(pilot, lambda: type(app.screen).__name__ == "WizardScreen")
        wz = app.screen
        sel = wz.query_one("#wz-script", Select)
        await until(pilot, lambda: sel._options and sel._options[-1][1] == NEW_SCRIPT, 10, "script choices")
        assert app.focused is sel
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press(*["down"] * (len(sel._options) - 1), "enter")
        await until(pilot, lambda: sel.value == NEW_SCRIPT)
        await pilot.press("tab", *"drip-e2e", "tab", *"Hi {first_name}, welcome to {city}", "ctrl+t")
        await until(pilot, lambda: len(wz.query(".step-text")) == 2 and app.focused.has_class("step-text"))
        await pilot.press(*"Still in {city}?", "shift+tab", "shift+tab", "end", "backspace", "2", "ctrl+t")
        await until(pilot, lambda: len(wz.query(".step-text")) == 3 and app.focused.has_class("step-text"))
        await pilot.press(*"Coming back? Yes or no", "tab", "enter")   # open "asks…" and pick yes/no
        await pilot.pause()
        await pilot.press("down", "enter")
        await until(pilot, lambda: app.focused.value == "yes_no", 5, "asks yes/no")
        await pilot.press("ctrl+n")
        await until(pilot, lambda: STEPS[wz.step] == "contacts", 10, "the daemon accepted the script")
        script = await app.call(P.ScriptShow(script="drip-e2e"), Script)
        assert script is not None and script.type == "interactive"
        assert [(s["delay_s"], s["question"]) for s in script.steps] == [(0, None), (172800, None),
                                                                         (86400, "yes_no")]

        wz.query_one("#wz-csv").value = str(people)
        wz.query_one("#wz-csv-list").value = "drip-people"
        await pilot.click("#wz-import")
        await until(pilot, lambda: "1 imported" in str(wz.query_one("#wz-import-report").render()), 10, "import")
        await pilot.press("ctrl+n")
        wz.query_one("#wz-name").value = "E2E drip"
        wz.query_one("#wz-number", Select).value = "+14155550100"
        await pilot.press("ctrl+n")
        await until(pilot, lambda: STEPS[wz.step] == "schedule")
        await pilot.press("down", "down", "enter", "tab", *"Europe/Paris", "tab", "tab", *"09:30", "tab",
                          "tab", "tab", "space")                         # weekly, Mon (default) + Wed
        await until(pilot, lambda: wz.query_one("#wz-cron").value == "30 9 * * 1,3", 5, "cron generated")
        first = str(wz.query_one("#wz-next-runs").render()).splitlines()[1].strip()
        await pilot.press("ctrl+n", "ctrl+n")
        await until(pilot, lambda: "Step 3 (after 1 day, asks yes/no)" in str(wz.query_one("#wz-review").render()),
                    10, "review of every step")
        review = str(wz.query_one("#wz-review").render())
        assert "Hi Ada, welcome to London" in review and "Still in London?" in review
        assert review.count("GSM-7 · 1 segment(s)") == 3 and "≈3 segments" in review
        await pilot.press("ctrl+l")
        await until(pilot, lambda: type(app.screen).__name__ == "CampaignsScreen", 10, "wizard closed")
        camps = await app.call(P.CampaignList(search="E2E drip"), list[Campaign])
        assert camps and camps[0].status == "scheduled" and camps[0].cron == "30 9 * * 1,3"
        # The daemon's next run is the first send the wizard showed.
        nxt = dt.datetime.fromtimestamp(camps[0].next_run, ZoneInfo("Europe/Paris"))
        assert f"{nxt:%a %Y-%m-%d %H:%M} Europe/Paris" in first


@pytest.mark.asyncio
async def test_wizard_review_shows_the_daemons_content_checks(daemon, tmp_path):
    """Issue 17: a bit.ly link blocks launch and a blocked term warns, in the review, from the daemon."""
    people = tmp_path / "people.csv"
    people.write_text("first_name,last_name,phone\nAda,Lovelace,+14155550201\n")
    app = GatewayApp(SocketClient(daemon.socket), tick_s=0.05, status_every_s=1.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.identity is not None and app.status is not None, 15, "connected")
        await pilot.press("c")
        await until(pilot, lambda: type(app.screen).__name__ == "CampaignsScreen")
        await pilot.press("w")
        await until(pilot, lambda: type(app.screen).__name__ == "WizardScreen")
        wz = app.screen
        await until(pilot, lambda: wz.query_one("#wz-script", Select)._options, 10, "script choices")
        wz.query_one("#wz-script", Select).value = NEW_SCRIPT
        await pilot.pause()
        wz.query_one("#wz-script-name").value = "wine-e2e"
        wz.query_one(".step-text").text = "Wine tasting! Tickets at https://bit.ly/w1ne"
        await pilot.press("ctrl+n")
        await until(pilot, lambda: wz.step == 1, 10, "script created, contacts step")
        wz.query_one("#wz-csv").value = str(people)
        wz.query_one("#wz-csv-list").value = "wine-people"
        await pilot.click("#wz-import")
        await until(pilot, lambda: "1 imported" in str(wz.query_one("#wz-import-report").render()), 10, "import")
        await pilot.press("ctrl+n")
        wz.query_one("#wz-name").value = "Wine"
        wz.query_one("#wz-number", Select).value = "+14155550100"
        wz.query_one("#wz-hours").value = "us"
        for _ in range(3):
            await pilot.press("ctrl+n")
        review = lambda: str(wz.query_one("#wz-review").render())  # noqa: E731
        await until(pilot, lambda: "Checks (sending hours: us)" in review(), 10, "checks in the review")
        assert "✗ blocks launch: step 1: bit.ly is a public URL shortener" in review()
        assert "✗ blocks launch: step 1 has no opt-out language" in review()
        assert "! warning: step 1: 'wine' is a blocked term" in review()
        assert "segment(s) per recipient" in review()
