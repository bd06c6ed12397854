"""Campaign detail tabs and the creation wizard, on the fake client."""

from __future__ import annotations

import pytest
from fake_campaigns import CampaignClient
from helpers import cells, notes, until
from textual.widgets import DataTable, Select

from gatewaytui.app import GatewayApp


def app_for(client) -> GatewayApp:
    return GatewayApp(client, tick_s=0.02, status_every_s=60)


async def open_detail(pilot, app):
    await until(pilot, lambda: app.identity is not None and app.status is not None)
    await pilot.press("c")
    await until(pilot, lambda: type(app.screen).__name__ == "CampaignsScreen" and app.screen.rows["active"])
    app.screen.query_one("#t-active").focus()
    await pilot.press("enter")
    await until(pilot, lambda: type(app.screen).__name__ == "CampaignDetailScreen")
    await until(pilot, lambda: app.screen.campaign is not None, what="campaign loaded")


async def go_tab(pilot, app, tab: str):
    for _ in range(4):
        if app.screen.tab == tab:
            break
        await pilot.press("right_square_bracket")
        await pilot.pause()
    assert app.screen.tab == tab, f"stuck on tab {app.screen.tab!r}; focus {app.focused!r}"


@pytest.mark.asyncio
async def test_general_and_activity_tabs(tmp_path):
    client = CampaignClient()
    app = app_for(client)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_detail(pilot, app)
        assert "#1 Spring sale" in str(app.screen.query_one("#cd-title").render())
        await until(pilot, lambda: client.sent("inbox_list"), what="activity loaded")
        assert client.sent("inbox_list")[0].campaign_id == 1
        await go_tab(pilot, app, "general")
        general = str(app.screen.query_one("#cd-general").render())
        assert "Contact list  vip" in general and "Phone number  +14155550100" in general
        assert "Recipients  done 2, pending 1" in general


@pytest.mark.asyncio
async def test_contacts_tab_indicators_preview_and_opt_out():
    client = CampaignClient()
    app = app_for(client)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_detail(pilot, app)
        await go_tab(pilot, app, "contacts")
        table = app.screen.query_one("#cd-contacts", DataTable)
        await until(pilot, lambda: table.row_count == 3, what="contacts")
        rows = cells(table)
        assert [r[4] for r in rows] == ["✔", "⚑", "◷"]          # delivered, not delivered, retrying
        assert rows[1][5] == "unknown subscriber"
        table.focus()
        await pilot.press("v")
        await until(pilot, lambda: type(app.screen).__name__ == "TextScreen", what="preview")
        assert "Hi Ada!" in str(app.screen.query_one("#text-body Static").render())
        await pilot.press("escape", "down", "x")
        await until(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen")
        await pilot.press("y")
        await until(pilot, lambda: client.sent("opt_out"), what="opt out")
        req = client.sent("opt_out")[0]
        assert (req.phone, req.scope, req.campaign_id) == ("+14155550202", "campaign", 1)


@pytest.mark.asyncio
async def test_analytics_summary_charts_and_csv_export(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    client = CampaignClient()
    app = app_for(client)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_detail(pilot, app)
        await go_tab(pilot, app, "analytics")
        await until(pilot, lambda: app.screen.report is not None, what="report")
        await pilot.pause()
        summary = str(app.screen.query_one("#cd-summary").render())
        assert "total 120" in summary and "succeeded 100" in summary and "failed 15" in summary
        assert "rate 25.4%" in summary and "median agent response 3m 05s" in summary and "cost 0.9000" in summary
        activity = str(app.screen.query_one("#cd-activity").render())
        segments = str(app.screen.query_one("#cd-segments").render())
        assert "Message activity per hour (UTC)" in activity and "01:00" in activity and "sent" in activity
        assert "Segments by state" in segments and "deliv. confirmed" in segments and "failed" in segments
        reports = len(client.sent("campaign_report"))
        client.push("message.state", id=900, state="delivered", campaign_id=1)
        await until(pilot, lambda: len(client.sent("campaign_report")) > reports, 5, "live report refresh")
        await pilot.press("E")
        await until(pilot, lambda: (tmp_path / "campaign-1-report.csv").exists(), what="csv written")
        assert (tmp_path / "campaign-1-report.csv").read_text().startswith("section,key,value")
        await pilot.press("escape")
        assert type(app.screen).__name__ == "CampaignsScreen"


@pytest.mark.asyncio
async def test_wizard_creates_a_draft_with_review_preview():
    client = CampaignClient()
    app = app_for(client)
    async with app.run_test(size=(100, 36)) as pilot:
        await until(pilot, lambda: app.status is not None and app.identity is not None)
        await pilot.press("c")
        await until(pilot, lambda: type(app.screen).__name__ == "CampaignsScreen")
        await pilot.press("w")
        await until(pilot, lambda: type(app.screen).__name__ == "WizardScreen")
        wz = app.screen
        await until(pilot, lambda: wz.scripts, what="scripts loaded")
        wz.query_one("#wz-script", Select).value = "welcome"
        await pilot.press("ctrl+n")
        wz.query_one("#wz-list", Select).value = "vip"
        await pilot.press("ctrl+n")
        wz.query_one("#wz-name").value = "Autumn"
        wz.query_one("#wz-number", Select).value = "+14155550100"
        wz.query_one("#wz-tags").value = "fall, promo"
        for _ in range(3):
            await pilot.press("ctrl+n")
        await until(pilot, lambda: "Preview for Ada Doe" in str(wz.query_one("#wz-review").render()), what="review")
        review = str(wz.query_one("#wz-review").render())
        assert "Hi Ada!" in review and "1 segment(s) per message · 3 contacts · ≈3 segments" in review
        await pilot.press("ctrl+s")
        await until(pilot, lambda: client.sent("campaign_create"), what="create")
        f = client.sent("campaign_create")[0]
        assert not f.launch
        assert (f.fields.name, f.fields.script, f.fields.list_name, f.fields.number, f.fields.tags) == \
            ("Autumn", "welcome", "vip", "+14155550100", ["fall", "promo"])
        await until(pilot, lambda: any("Autumn" in n and "draft" in n for n in notes(app)), what="saved note")


@pytest.mark.asyncio
async def test_wizard_imports_a_csv_and_reports_invalid_rows(tmp_path):
    csv_file = tmp_path / "people.csv"
    csv_file.write_text("first_name,last_name,phone\nAda,L,+14155550301\nBad,Row,12\nGrace,H,+14155550302\n")
    client = CampaignClient()
    app = app_for(client)
    async with app.run_test(size=(100, 36)) as pilot:
        await until(pilot, lambda: app.status is not None and app.identity is not None)
        await pilot.press("c")
        await until(pilot, lambda: type(app.screen).__name__ == "CampaignsScreen")
        await pilot.press("w")
        await until(pilot, lambda: type(app.screen).__name__ == "WizardScreen")
        wz = app.screen
        await until(pilot, lambda: wz.scripts)
        wz.query_one("#wz-script", Select).value = "welcome"
        await pilot.press("ctrl+n")
        wz.query_one("#wz-csv").value = str(csv_file)
        wz.query_one("#wz-csv-list").value = "people"
        await pilot.click("#wz-import")
        await until(pilot, lambda: "imported" in str(wz.query_one("#wz-import-report").render()), what="report")
        report = str(wz.query_one("#wz-import-report").render())
        assert "people: 2 imported, 0 merged, 1 invalid" in report and "row 3: '12': not a possible number" in report
        assert wz.query_one("#wz-progress").percentage == 1.0
        assert wz.query_one("#wz-list", Select).value == "people"


@pytest.mark.asyncio
async def test_edit_a_draft_then_launch_it_from_the_wizard():
    client = CampaignClient()
    app = app_for(client)
    async with app.run_test(size=(100, 36)) as pilot:
        await until(pilot, lambda: app.status is not None and app.identity is not None)
        await pilot.press("c", "right_square_bracket", "right_square_bracket")
        await until(pilot, lambda: app.screen.tab == "draft" and app.screen.rows["draft"], what="drafts")
        app.screen.query_one("#t-draft").focus()
        await pilot.press("e")
        await until(pilot, lambda: type(app.screen).__name__ == "WizardScreen")
        wz = app.screen
        assert wz.query_one("#wz-name").value == "Draft idea"
        assert wz.query_one("#wz-tags").value == "spring"
        wz.query_one("#wz-name").value = "Draft idea v2"
        await pilot.press("ctrl+l")
        await until(pilot, lambda: client.sent("campaign_action"), what="edit then launch")
        edit = client.sent("campaign_edit")[0]
        assert (edit.campaign_id, edit.fields.name, edit.fields.tags) == (3, "Draft idea v2", ["spring"])
        assert client.sent("campaign_action")[0].action == "launch"
