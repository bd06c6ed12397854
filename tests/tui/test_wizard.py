"""The campaign wizard's pickers, driven from the keyboard on the fake client: a multi-step
script, A/B variants with their ratio, and a weekly recurring schedule with its next sends."""

from __future__ import annotations

import datetime as dt

import pytest
from fake_campaigns import CampaignClient
from fake_client import T0
from helpers import notes, until
from textual.widgets import Select

from gatewaytui.app import GatewayApp
from gatewaytui.screens.wizard import STEPS
from gatewaytui.screens.wizard_schedule import build_cron, next_runs, parse_cron
from gatewaytui.screens.wizard_script import StepEditor

PROMOS = [{"id": 2, "name": "promo-b", "type": "nudge", "steps": [{"text": "20% off, {first_name}", "delay_s": 0}],
           "defaults": {}},
          {"id": 3, "name": "promo-c", "type": "nudge", "steps": [{"text": "Free delivery", "delay_s": 0}],
           "defaults": {}}]


def make_app(client: CampaignClient) -> GatewayApp:
    # A frozen clock (Tue 2023-11-14 22:13 UTC) makes the "next sends" deterministic.
    return GatewayApp(client, tick_s=0.02, status_every_s=60, clock=lambda: T0)


async def open_wizard(pilot, app):
    await until(pilot, lambda: app.status is not None and app.identity is not None)
    await pilot.press("c")
    await until(pilot, lambda: type(app.screen).__name__ == "CampaignsScreen")
    await pilot.press("w")
    await until(pilot, lambda: type(app.screen).__name__ == "WizardScreen")
    wz = app.screen
    await until(pilot, lambda: wz.scripts, what="scripts loaded")
    return wz


async def choose(pilot, select: Select, value) -> None:
    """Pick ``value`` in a focused Select with the keyboard: open, arrow down to it, enter."""
    assert pilot.app.focused is select, f"focus is on {pilot.app.focused!r}"
    values = [v for _, v in select._options]
    await pilot.press("enter")
    await pilot.pause()
    downs = values.index(value) - values.index(select.value)
    await pilot.press(*(["down"] * downs if downs > 0 else ["up"] * -downs), "enter")
    await until(pilot, lambda: select.value == value, what=f"{value!r} chosen")


async def go_to(pilot, wz, step: str) -> None:
    while STEPS[wz.step] != step:
        await pilot.press("ctrl+n")
        await pilot.pause()


async def add_variant(pilot, app, wz) -> Select:
    """ctrl+t on the options step: a new A/B row appears with its script picker focused."""
    before = len(wz.query(".ab-script"))
    await pilot.press("ctrl+t")
    await until(pilot, lambda: len(wz.query(".ab-script")) == before + 1 and app.focused is not None
                and app.focused.has_class("ab-script"), what="a new variant row")
    return app.focused


async def fill_variant(pilot, picker: Select, script: str, weight: str) -> None:
    await choose(pilot, picker, script)
    await pilot.press("tab", *weight)


def footer_keys(app) -> dict[str, str]:
    return {k: b.binding.description for k, b in app.screen.active_bindings.items()}


def review(wz) -> str:
    return str(wz.query_one("#wz-review").render())


@pytest.mark.asyncio
async def test_write_a_three_step_script_with_delays_and_a_question():
    client = CampaignClient()
    app = make_app(client)
    async with app.run_test(size=(80, 24)) as pilot:
        wz = await open_wizard(pilot, app)
        assert footer_keys(app).get("ctrl+t") is None, "no step keys until writing a script"
        await choose(pilot, wz.query_one("#wz-script", Select), "__new__")
        assert footer_keys(app)["ctrl+t"] == "Add step" and footer_keys(app)["ctrl+r"] == "Del step"
        await pilot.press("tab", *"follow-up", "tab", *"Hi {first_name}, coming to {city}?")
        await until(pilot, lambda: "fields: first_name, city" in str(wz.query_one(".step-fields").render()))

        # Step 2, two days later: the new step takes the focus; its delay sits before the text.
        await pilot.press("ctrl+t")
        await until(pilot, lambda: len(wz.query(StepEditor)) == 2 and app.focused.has_class("step-text"))
        await pilot.press(*"Still on for {city}?", "shift+tab", "shift+tab", "end", "backspace", "2")
        # Step 3, four hours later, asks yes/no.
        await pilot.press("ctrl+t")
        await until(pilot, lambda: len(wz.query(StepEditor)) == 3 and app.focused.has_class("step-text"))
        await pilot.press(*"Reply YES to confirm", "shift+tab")
        await choose(pilot, app.focused, 3600)
        await pilot.press("shift+tab", "end", "backspace", "4", "tab", "tab", "tab")
        await choose(pilot, app.focused, "yes_no")
        titles = [e.border_title for e in wz.query(StepEditor)]
        assert titles == ["Step 1  (sent at launch)", "Step 2", "Step 3"]

        # A fourth step, removed again with the key: the focused one goes.
        await pilot.press("ctrl+t")
        await until(pilot, lambda: len(wz.query(StepEditor)) == 4)
        await pilot.press("ctrl+r")
        await until(pilot, lambda: len(wz.query(StepEditor)) == 3)

        await pilot.press("ctrl+n")
        await until(pilot, lambda: client.sent("script_create"), what="script_create sent")
        req = client.sent("script_create")[0]
        assert req.name == "follow-up" and req.type == "interactive"
        assert [(s["text"], s["delay_s"], s["question"]) for s in req.steps] == [
            ("Hi {first_name}, coming to {city}?", 0.0, None),
            ("Still on for {city}?", 2 * 86400.0, None),
            ("Reply YES to confirm", 4 * 3600.0, "yes_no")]
        await until(pilot, lambda: STEPS[wz.step] == "contacts", what="on to the contacts step")
        assert wz.query_one("#wz-script", Select).value == "follow-up"
        assert any("'follow-up' saved with 3 step(s)" in n for n in notes(app))

        # The review renders each step for a contact with its own segment count.
        wz.query_one("#wz-list", Select).value = "vip"
        await go_to(pilot, wz, "review")
        await until(pilot, lambda: "Preview for Ada Doe" in review(wz), what="review")
        text = review(wz)
        for line in ("Step 1 (at launch)", "Hi Ada, coming to Paris?", "Step 2 (after 2 days)",
                     "Still on for Paris?", "Step 3 (after 4 hours, asks yes/no)", "Reply YES to confirm"):
            assert line in text
        assert text.count("GSM-7 · 1 segment(s)") == 3
        assert "3 segment(s) over 3 steps · 3 contacts · ≈9 segments" in text


@pytest.mark.asyncio
async def test_a_new_script_step_without_text_is_refused_where_it_is():
    client = CampaignClient()
    app = make_app(client)
    async with app.run_test(size=(80, 24)) as pilot:
        wz = await open_wizard(pilot, app)
        await choose(pilot, wz.query_one("#wz-script", Select), "__new__")
        await pilot.press("tab", *"two-steps", "tab", *"Hello", "ctrl+t")
        await until(pilot, lambda: len(wz.query(StepEditor)) == 2)
        await pilot.press("ctrl+n")
        await until(pilot, lambda: any("Step 2 has no text." in n for n in notes(app)))
        assert STEPS[wz.step] == "script" and not client.sent("script_create")


@pytest.mark.asyncio
async def test_pick_two_ab_variants_with_their_share():
    client = CampaignClient()
    client.scripts += PROMOS
    app = make_app(client)
    async with app.run_test(size=(80, 24)) as pilot:
        wz = await open_wizard(pilot, app)
        await choose(pilot, wz.query_one("#wz-script", Select), "welcome")
        await pilot.press("ctrl+n")
        wz.query_one("#wz-list", Select).value = "vip"
        await pilot.press("ctrl+n")
        wz.query_one("#wz-name").value = "Split test"
        await go_to(pilot, wz, "options")
        assert footer_keys(app)["ctrl+t"] == "Add variant"
        first = await add_variant(pilot, app, wz)
        assert [v for _, v in first._options if v != Select.NULL] == ["promo-b", "promo-c"], \
            "the main script is not offered as its own variant"
        await fill_variant(pilot, first, "promo-b", "30")
        await fill_variant(pilot, await add_variant(pilot, app, wz), "promo-c", "25")
        await until(pilot, lambda: "welcome 45% · promo-b 30% · promo-c 25%" in str(
            wz.query_one("#wz-ab-summary").render()), what="summary with the main script's rest")

        await pilot.press("ctrl+n")
        await until(pilot, lambda: "Preview for Ada Doe" in review(wz), what="review")
        text = review(wz)
        assert "A/B test  welcome 45% · promo-b 30% · promo-c 25%" in text
        assert "variant promo-b (30%): 1 step(s), 1 segment(s) per contact" in text
        await pilot.press("ctrl+s")
        await until(pilot, lambda: client.sent("campaign_create"), what="create")
        f = client.sent("campaign_create")[0].fields
        assert f.script == "welcome"
        assert f.variants == [{"script": "promo-b", "weight": 30.0}, {"script": "promo-c", "weight": 25.0}]


@pytest.mark.asyncio
async def test_variants_over_100_percent_are_refused_with_a_readable_note():
    client = CampaignClient()
    client.scripts += PROMOS
    app = make_app(client)
    async with app.run_test(size=(80, 24)) as pilot:
        wz = await open_wizard(pilot, app)
        await choose(pilot, wz.query_one("#wz-script", Select), "welcome")
        wz.query_one("#wz-name").value = "Too much"
        await go_to(pilot, wz, "options")
        await fill_variant(pilot, await add_variant(pilot, app, wz), "promo-b", "70")
        await fill_variant(pilot, await add_variant(pilot, app, wz), "promo-c", "40")
        message = "A/B variants add up to 110%; at most 100% (the main script gets what is left)."
        await until(pilot, lambda: message in str(wz.query_one("#wz-ab-summary").render()))
        await pilot.press("ctrl+n")
        await until(pilot, lambda: any(message in n for n in notes(app)), what="refusal note")
        assert STEPS[wz.step] == "options", "the wizard stays where the mistake is"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not client.sent("campaign_create") and app.screen is wz

        await pilot.press("backspace", "backspace", *"20", "ctrl+r")   # fix it, then drop the second row
        await until(pilot, lambda: len(wz.query(".ab-script")) == 1)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: client.sent("campaign_create"), what="create")
        assert client.sent("campaign_create")[0].fields.variants == [{"script": "promo-b", "weight": 70.0}]


@pytest.mark.asyncio
async def test_weekly_on_monday_and_wednesday_at_0930_in_paris():
    client = CampaignClient()
    app = make_app(client)
    async with app.run_test(size=(80, 24)) as pilot:
        wz = await open_wizard(pilot, app)
        wz.query_one("#wz-name").value = "Weekly"
        await go_to(pilot, wz, "schedule")
        assert app.focused is wz.query_one("#wz-when")
        await pilot.press("down", "down", "enter")          # "Recurring"
        await until(pilot, lambda: wz.query_one("#wz-recurrence").display)
        await pilot.press("tab", *"Europe/Paris", "tab")
        assert app.focused.id == "wz-rec-freq" and app.focused.value == "weekly"
        await pilot.press("tab", *"09:30", "tab")
        assert app.focused.id == "wz-rec-mon" and app.focused.value, "Monday is ticked by default"
        await pilot.press("tab", "tab", "space")            # Wednesday
        await until(pilot, lambda: wz.query_one("#wz-cron").value == "30 9 * * 1,3", what="cron generated")
        shown = str(wz.query_one("#wz-next-runs").render())
        # Now is Tue 2023-11-14 23:13 in Paris: the next sends are Wed, Mon, Wed at 09:30 Paris time,
        # which is 08:30 for an operator in UTC (the tests' local zone).
        assert shown.splitlines() == ["next sends:",
                                      "  Wed 2023-11-15 09:30 Europe/Paris (08:30 UTC here)",
                                      "  Mon 2023-11-20 09:30 Europe/Paris (08:30 UTC here)",
                                      "  Wed 2023-11-22 09:30 Europe/Paris (08:30 UTC here)"]
        assert wz.query_one("#wz-cron").disabled, "the generated cron is not typed over by accident"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: client.sent("campaign_create"), what="create")
        f = client.sent("campaign_create")[0].fields
        assert (f.cron, f.tz, f.at) == ("30 9 * * 1,3", "Europe/Paris", None)


@pytest.mark.asyncio
async def test_advanced_cron_is_free_text_and_a_bad_one_is_refused():
    client = CampaignClient()
    app = make_app(client)
    async with app.run_test(size=(80, 24)) as pilot:
        wz = await open_wizard(pilot, app)
        wz.query_one("#wz-name").value = "Odd"
        await go_to(pilot, wz, "schedule")
        await pilot.press("down", "down", "enter", "tab", "tab")
        await choose(pilot, app.focused, "cron")
        cron = wz.query_one("#wz-cron")
        assert not cron.disabled and not wz.query_one("#wz-rec-days").display
        await pilot.press("tab", *"0 25 * * *")
        await until(pilot, lambda: "not a cron expression" in str(wz.query_one("#wz-next-runs").render()))
        await pilot.press("ctrl+n")
        await until(pilot, lambda: any("Recurring schedule" in n for n in notes(app)), what="refusal")
        assert STEPS[wz.step] == "schedule"
        await pilot.press(*["backspace"] * 10, *"*/15 8-17 * * 1-5")
        await until(pilot, lambda: "Wed 2023-11-15 08:00 UTC" in str(wz.query_one("#wz-next-runs").render()))
        await pilot.press("ctrl+s")
        await until(pilot, lambda: client.sent("campaign_create"), what="create")
        assert client.sent("campaign_create")[0].fields.cron == "*/15 8-17 * * 1-5"


def test_cron_round_trips_through_the_picker():
    assert build_cron("daily", "7:05", [], "") == "5 7 * * *"
    assert build_cron("weekly", "18:00", [6, 4], "") == "0 18 * * 0,5"   # Sunday is 0 in cron
    assert build_cron("monthly", "09:00", [], "15") == "0 9 15 * *"
    for bad in (("weekly", "09:00", [], ""), ("daily", "9h", [], ""), ("monthly", "09:00", [], "32")):
        with pytest.raises(ValueError):
            build_cron(*bad)
    assert parse_cron("0 18 * * 0,5") == ("weekly", "18:00", [4, 6], "")
    assert parse_cron("0 9 15 * *") == ("monthly", "09:00", [], "15")
    assert parse_cron("*/15 8-17 * * 1-5") is None   # shown in the advanced field


def test_next_runs_follow_the_campaign_zone_across_dst():
    # 2024-03-31 is the spring-forward day in Paris: 09:00 local stays 09:00 (07:00 UTC after).
    runs = next_runs("0 9 * * *", "Europe/Paris", dt.datetime(2024, 3, 30, 12, tzinfo=dt.timezone.utc).timestamp())
    assert [r.strftime("%m-%d %H:%M %z") for r in runs] == ["03-31 09:00 +0200", "04-01 09:00 +0200",
                                                            "04-02 09:00 +0200"]


@pytest.mark.asyncio
async def test_editing_a_draft_shows_its_variants_and_schedule_in_the_pickers():
    client = CampaignClient()
    client.scripts += PROMOS
    client.campaigns[3].update(variants=[{"script_id": 3, "weight": 25.0}], cron="0 18 * * 0,5", tz="Europe/Paris",
                               script="welcome")
    app = make_app(client)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.status is not None and app.identity is not None)
        await pilot.press("c", "right_square_bracket", "right_square_bracket")
        await until(pilot, lambda: app.screen.tab == "draft" and app.screen.rows["draft"], what="drafts")
        app.screen.query_one("#t-draft").focus()
        await pilot.press("e")
        await until(pilot, lambda: type(app.screen).__name__ == "WizardScreen")
        wz = app.screen
        await until(pilot, lambda: "welcome 75% · promo-c 25%" in str(wz.query_one("#wz-ab-summary").render()),
                    what="variant row from the campaign")
        assert wz.query_one("#wz-rec-freq", Select).value == "weekly"
        assert [c.id for c in wz.query("#wz-rec-days Checkbox") if c.value] == ["wz-rec-fri", "wz-rec-sun"]
        assert "Fri 2023-11-17 18:00 Europe/Paris" in str(wz.query_one("#wz-next-runs").render())
        await pilot.press("ctrl+l")
        await until(pilot, lambda: client.sent("campaign_action"), what="edit then launch")
        f = client.sent("campaign_edit")[0].fields
        assert (f.cron, f.tz, f.variants) == ("0 18 * * 0,5", "Europe/Paris", [{"script": "promo-c", "weight": 25.0}])
