"""The campaign creation wizard: script, contacts, details, schedule, options, review.

Steps are panes of one modal screen (ctrl+n / ctrl+b, or the buttons), so every field stays
editable until the end. Two side actions happen inside: writing a new multi-step script
(:mod:`.wizard_script`, sent as ``script_create``) and importing a CSV in chunks with a progress
bar and a report of invalid rows. The schedule and A/B pickers live in :mod:`.wizard_schedule`,
the review in :mod:`.wizard_review`. A step is left only when what it holds would be accepted,
so mistakes are reported where they are made. The screen returns the requests to send (create,
or edit then launch) and the caller sends them.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import (Button, ContentSwitcher, Footer, Input, Label, ProgressBar, RadioButton, RadioSet,
                             Select, Static, Switch)

from gatewayd import protocol as P

from ..views import Campaign, ContactList, Script
from .base import ReportsWorkerErrors
from .contacts import import_file, import_report
from .wizard_review import review_text
from .wizard_schedule import RecurrencePicker, VariantPicker, check
from .wizard_script import ScriptWriter

STEPS = ["script", "contacts", "details", "schedule", "options", "review"]
NEW_SCRIPT = "__new__"


class Pane(VerticalScroll, can_focus=False):
    """A wizard step: scrolls to the focused field instead of taking focus itself."""


class WizardScreen(ReportsWorkerErrors, ModalScreen["list[P.Request] | None"]):
    BINDINGS = [
        Binding("ctrl+n", "step(1)", "Next"),
        Binding("ctrl+b", "step(-1)", "Back"),
        Binding("ctrl+s", "finish(False)", "Save"),
        Binding("ctrl+l", "finish(True)", "Launch"),
        # Same keys, different panes: check_action shows the pair that fits the current step.
        Binding("ctrl+t", "add_step", "Add step"),
        Binding("ctrl+r", "remove_step", "Del step"),
        Binding("ctrl+t", "add_variant", "Add variant"),
        Binding("ctrl+r", "remove_variant", "Del variant"),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, *, campaign: Campaign | None = None, at: dt.date | None = None) -> None:
        super().__init__(classes="modal")
        self.campaign = campaign
        self.at = at
        self.step = 0
        self.scripts: list[Script] = []
        self.lists: list[ContactList] = []

    # ---- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        c = self.campaign
        numbers = [(n.address, n.address) for n in (self.app.status.numbers if self.app.status else [])]  # type: ignore[attr-defined]
        with Vertical(classes="dialog wide", id="wizard"):
            yield Label("Edit campaign" if c else "New campaign", classes="dialog-title", id="wz-title")
            yield Static("", id="wz-steps")
            with ContentSwitcher(initial="script", id="wz-body"):
                with Pane(id="script"):
                    yield Label("Script (pick one, or write a new one)")
                    yield Select([], id="wz-script", prompt="choose a script")
                    yield ScriptWriter()
                with Pane(id="contacts"):
                    yield Label("Contact list")
                    yield Select([], id="wz-list", prompt="choose a list")
                    yield Label("…or import a CSV (first name, last name, phone, other columns become fields)")
                    with Horizontal(classes="row"):
                        yield Input(placeholder="path/to/contacts.csv", id="wz-csv")
                        yield Input(placeholder="list name", id="wz-csv-list")
                        yield Button("Import", id="wz-import")
                    yield ProgressBar(id="wz-progress", show_eta=False)
                    yield Static("", id="wz-import-report")
                with Pane(id="details"):
                    yield Input(c.name if c else "", placeholder="campaign title", id="wz-name")
                    yield Select(numbers, id="wz-number", prompt="phone number",
                                 value=c.number if c and c.number in dict(numbers) else Select.NULL)
                    yield Input(c.office if c else "", placeholder="office (default: the number's)", id="wz-office")
                    yield Select([("Agent", "agent"), ("Virtual Assistant", "assistant")], id="wz-operated",
                                 value=c.operated_by if c else "agent", allow_blank=False)
                    yield Input(", ".join(c.tags) if c else "", placeholder="tags, comma separated", id="wz-tags")
                with Pane(id="schedule"):
                    mode = "cron" if c and c.cron else ("at" if (c and c.schedule_at) or self.at else "now")
                    with RadioSet(id="wz-when", compact=True):
                        yield RadioButton("Send now (at launch)", value=mode == "now", id="when-now", compact=True)
                        yield RadioButton("Once, at a time", value=mode == "at", id="when-at", compact=True)
                        yield RadioButton("Recurring", value=mode == "cron", id="when-cron", compact=True)
                    with Horizontal(classes="wz-line"):
                        yield Label("time zone")
                        yield Input(c.tz if c else "UTC", placeholder="e.g. Europe/Paris", id="wz-tz", compact=True)
                    at = (dt.datetime.fromtimestamp(c.schedule_at).strftime("%Y-%m-%dT%H:%M") if c and c.schedule_at
                          else (f"{self.at:%Y-%m-%d}T09:00" if self.at else ""))
                    with Horizontal(classes="wz-line", id="wz-at-row"):
                        yield Label("send at")
                        yield Input(at, placeholder="2026-12-01T09:00", id="wz-at", compact=True)
                    yield RecurrencePicker(c.cron or "" if c else "", self.app.clock)  # type: ignore[attr-defined]
                with Pane(id="options"):
                    with Horizontal(classes="wz-line"):
                        yield Switch(c.stop_on_reply if c else False, id="wz-stop")
                        yield Label("stop on reply: a contact who replies gets no later step", classes="switch-label")
                    quiet = f"{c.quiet_start}-{c.quiet_end}" if c and c.quiet_start else ""
                    with Horizontal(classes="wz-line"):
                        yield Label("quiet hours")
                        yield Input(quiet, placeholder="none, e.g. 21:00-08:00", id="wz-quiet", compact=True)
                    with Horizontal(classes="wz-line"):
                        yield Label("sending hours")
                        yield Input(c.hours or "" if c else "", placeholder="the gateway's default; us, daytime, none",
                                    id="wz-hours", compact=True)
                    with Horizontal(classes="wz-line"):
                        yield Label("TTL (s)")
                        yield Input(str(int(c.ttl_s)) if c and c.ttl_s else "", placeholder="the gateway's default",
                                    id="wz-ttl", compact=True)
                    yield VariantPicker()
                with VerticalScroll(id="review"):
                    yield Static("", id="wz-review")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Back", id="wz-back", compact=True)
                yield Button("Next", id="wz-next", variant="primary", compact=True)
                yield Button("Save draft", id="wz-save", compact=True)
                yield Button("Launch", id="wz-launch", variant="success", compact=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#wz-progress").display = False
        self._show_step()
        self._show_when()
        self.query_one(RecurrencePicker).set_tz(self.query_one("#wz-tz", Input).value.strip() or "UTC")
        self.load_choices()

    @work(exclusive=True, group="wz-choices", exit_on_error=False)
    async def load_choices(self) -> None:
        scripts = await self.app.call(P.ScriptList(), list[Script])  # type: ignore[attr-defined]
        lists = await self.app.call(P.ListsList(), list[ContactList])  # type: ignore[attr-defined]
        self.scripts, self.lists = scripts or [], lists or []
        self._fill_scripts(self.campaign.script if self.campaign else None)
        self._fill_lists(self.campaign.list_name if self.campaign else None)
        ids = {s.id: s.name for s in self.scripts}
        for v in self.campaign.variants if self.campaign else []:
            await self.query_one(VariantPicker).add_row(ids.get(v.get("script_id")), float(v.get("weight", 0)))

    def _fill_scripts(self, value: str | None) -> None:
        sel = self.query_one("#wz-script", Select)
        sel.set_options([(f"{s.name} ({s.type}, {len(s.steps)} step(s))", s.name) for s in self.scripts]
                        + [("＋ write a new script", NEW_SCRIPT)])
        if value and any(s.name == value for s in self.scripts):
            sel.value = value
        self._main_changed()

    def _fill_lists(self, value: str | None) -> None:
        sel = self.query_one("#wz-list", Select)
        sel.set_options([(f"{x.name} ({x.contacts} contacts)", x.name) for x in self.lists])
        if value and any(x.name == value for x in self.lists):
            sel.value = value

    @property
    def writing(self) -> bool:
        return STEPS[self.step] == "script" and self.query_one("#wz-script", Select).value == NEW_SCRIPT

    def _show_step(self) -> None:
        pane = STEPS[self.step]
        self.query_one("#wz-body", ContentSwitcher).current = pane
        t = Text()
        for i, name in enumerate(STEPS):
            t.append(f" {i + 1} {name.capitalize()} ", style="reverse bold" if i == self.step else "dim")
            if i < len(STEPS) - 1:
                t.append("›")
        self.query_one("#wz-steps", Static).update(t)
        self.query_one(ScriptWriter).display = self.query_one("#wz-script", Select).value == NEW_SCRIPT
        self.refresh_bindings()
        if pane == "review":
            self.build_review()
        self.call_after_refresh(self._focus_pane, pane)

    def _focus_pane(self, pane: str) -> None:
        """The first field of the step shown, so the keyboard is where the eyes are."""
        body = self.query_one(f"#{pane}")
        if self.focused is not None and body in self.focused.ancestors:
            return
        target = next((w for w in self.focus_chain if body in w.ancestors_with_self), None)
        if target is not None:
            target.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("add_step", "remove_step"):
            return self.writing
        if action in ("add_variant", "remove_variant"):
            return STEPS[self.step] == "options"
        return True

    # ---- navigation ------------------------------------------------------------------------

    def action_step(self, delta: int) -> None:
        if delta > 0:
            if self.writing:
                self.create_script()
                return
            problem = self._problem(STEPS[self.step])
            if problem:
                self.notify(problem, title="Cannot go on yet", severity="warning")
                return
        self.step = max(0, min(len(STEPS) - 1, self.step + delta))
        self._show_step()

    def _problem(self, pane: str) -> str | None:
        """What on ``pane`` the daemon would refuse; None when it may be left."""
        if pane == "schedule":
            tz = self.query_one("#wz-tz", Input).value.strip()
            if tz and check("* * * * *", tz):
                return f"Unknown time zone {tz!r}: use an IANA name such as Europe/Paris."
            error = self.query_one(RecurrencePicker).error if self._mode() == "when-cron" else None
            return f"Recurring schedule: {error}." if error else None
        if pane == "options":
            got = self.query_one(VariantPicker).variants()
            return got if isinstance(got, str) else None
        return None

    @on(Button.Pressed, "#wz-next")
    def _next(self) -> None:
        self.action_step(1)

    @on(Button.Pressed, "#wz-back")
    def _back(self) -> None:
        self.action_step(-1)

    @on(Button.Pressed, "#wz-save")
    def _save(self) -> None:
        self.action_finish(False)

    @on(Button.Pressed, "#wz-launch")
    def _launch(self) -> None:
        self.action_finish(True)

    @on(Select.Changed, "#wz-script")
    def _script_changed(self) -> None:
        self._main_changed()
        self._show_step()

    def _main_changed(self) -> None:
        main = self.query_one("#wz-script", Select).value
        self.query_one(VariantPicker).set_scripts([s.name for s in self.scripts],
                                                  main if isinstance(main, str) and main != NEW_SCRIPT else None)

    @on(RadioSet.Changed, "#wz-when")
    def _show_when(self) -> None:
        mode = self._mode()
        self.query_one("#wz-at-row").display = mode == "when-at"
        self.query_one(RecurrencePicker).display = mode == "when-cron"

    @on(Input.Changed, "#wz-tz")
    def _tz_changed(self, event: Input.Changed) -> None:
        self.query_one(RecurrencePicker).set_tz(event.value.strip() or "UTC")

    def _mode(self) -> str:
        when = self.query_one("#wz-when", RadioSet).pressed_button
        return when.id or "when-now" if when is not None else "when-now"

    def action_add_step(self) -> None:
        self.query_one(ScriptWriter).add_step()

    def action_remove_step(self) -> None:
        problem = self.query_one(ScriptWriter).remove_step()
        if problem:
            self.notify(problem, severity="warning")

    async def action_add_variant(self) -> None:
        picker = self.query_one(VariantPicker)
        if not picker.choices:
            self.notify("There is no script to test against the main one yet.", severity="warning")
            return
        row = await picker.add_row()
        row.query_one(Select).focus()
        row.scroll_visible()

    def action_remove_variant(self) -> None:
        if not self.query_one(VariantPicker).remove_row():
            self.notify("There is no A/B variant to remove.", severity="warning")

    @work(exclusive=True, group="wz-script", exit_on_error=False)
    async def create_script(self) -> None:
        req = self.query_one(ScriptWriter).request()
        if isinstance(req, str):
            self.notify(req, title="New script", severity="warning")
            return
        s = await self.app.call(req, Script)  # type: ignore[attr-defined]
        if s is None:
            return
        self.scripts.append(s)
        self._fill_scripts(s.name)
        self.notify(f"Script {s.name!r} saved with {len(s.steps)} step(s).")
        self.step = 1
        self._show_step()

    # ---- CSV import ------------------------------------------------------------------------

    @on(Button.Pressed, "#wz-import")
    def _import_pressed(self) -> None:
        path = self.query_one("#wz-csv", Input).value.strip()
        name = self.query_one("#wz-csv-list", Input).value.strip() or Path(path).stem
        if path:
            self.import_csv(path, name)

    @work(exclusive=True, group="wz-import", exit_on_error=False)
    async def import_csv(self, path: str, list_name: str) -> None:
        bar = self.query_one("#wz-progress", ProgressBar)
        bar.display = True
        total = await import_file(self.app, path, list_name, bar)
        if total is None:
            return
        self.query_one("#wz-import-report", Static).update(import_report(list_name, total))
        self.lists = await self.app.call(P.ListsList(), list[ContactList]) or self.lists  # type: ignore[attr-defined]
        self._fill_lists(list_name)

    # ---- review and result -----------------------------------------------------------------

    def fields(self) -> P.CampaignFields:
        v = lambda sel: self.query_one(sel, Input).value.strip() or None  # noqa: E731
        script = self.query_one("#wz-script", Select).value
        lst = self.query_one("#wz-list", Select).value
        number = self.query_one("#wz-number", Select).value
        mode = self._mode()
        quiet = (v("#wz-quiet") or "").split("-")
        ttl = v("#wz-ttl")
        variants = self.query_one(VariantPicker).variants()
        if isinstance(variants, str) or not variants:
            # An edit that removed every variant must clear them; a new campaign has none to clear.
            variants = [] if self.campaign is not None and self.campaign.variants else None
        return P.CampaignFields(
            name=v("#wz-name"), script=script if isinstance(script, str) and script != NEW_SCRIPT else None,
            list_name=lst if isinstance(lst, str) else None, number=number if isinstance(number, str) else None,
            office=v("#wz-office"), operated_by=self.query_one("#wz-operated", Select).value,  # type: ignore[arg-type]
            tags=[t.strip() for t in (v("#wz-tags") or "").split(",") if t.strip()],
            stop_on_reply=self.query_one("#wz-stop", Switch).value,
            at=v("#wz-at") if mode == "when-at" else None,
            cron=self.query_one(RecurrencePicker).cron or None if mode == "when-cron" else None,
            tz=v("#wz-tz"), ttl_s=float(ttl) if ttl and ttl.replace(".", "", 1).isdigit() else None,
            quiet_start=quiet[0].strip() if len(quiet) == 2 else None,
            quiet_end=quiet[1].strip() if len(quiet) == 2 else None, variants=variants,
            hours=v("#wz-hours") or ("" if self.campaign is not None and self.campaign.hours else None))

    @work(exclusive=True, group="wz-review", exit_on_error=False)
    async def build_review(self) -> None:
        f = self.fields()
        size = next((x.contacts for x in self.lists if x.name == f.list_name), 0)
        text = await review_text(self.app, f, self.scripts, size, self._price(f.number))
        self.query_one("#wz-review", Static).update(text)

    def _price(self, number: str | None) -> float:
        st = self.app.status  # type: ignore[attr-defined]
        if st is None:
            return 0.0
        links = next((n.links for n in st.numbers if n.address == number), [])
        return next((lk.price_per_segment for lk in st.links if lk.name in links), 0.0)

    def action_finish(self, launch: bool) -> None:
        f = self.fields()
        if not f.name:
            self.notify("Give the campaign a title (step 3).", severity="warning")
            return
        problem = self._problem("schedule") or self._problem("options")
        if problem:
            self.notify(problem, title="Cannot save yet", severity="warning")
            return
        if self.campaign is None:
            self.dismiss([P.CampaignCreate(fields=f, launch=launch)])
            return
        reqs: list[P.Request] = [P.CampaignEdit(campaign_id=self.campaign.id, fields=f)]
        if launch:
            reqs.append(P.CampaignAction(campaign_id=self.campaign.id, action="launch"))
        self.dismiss(reqs)

    def action_cancel(self) -> None:
        self.dismiss(None)
