"""The campaign creation wizard: script, contacts, details, schedule, options, review.

Steps are panes of one modal screen (ctrl+n / ctrl+b, or the buttons), so every field stays
editable until the end. Two side actions happen inside: writing a new script (``script_create``)
and importing a CSV in chunks with a progress bar and a report of invalid rows. The review renders
the first step for a sample contact of the list with its encoding, segments and cost. The screen
returns the requests to send (create, or edit then launch) and the caller sends them.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import (Button, ContentSwitcher, Footer, Input, Label, ProgressBar, RadioButton, RadioSet,
                             Select, Static, Switch, TextArea)

from gatewayd import protocol as P

from ..views import Campaign, Contact, ContactList, ImportResult, Preview, Script
from .base import ReportsWorkerErrors

STEPS = ["script", "contacts", "details", "schedule", "options", "review"]
NEW_SCRIPT = "__new__"
CHUNK = 1000
_FIELD = re.compile(r"\{(\w+)\}")


def read_csv(path: str) -> tuple[list[str], list[list[str]]]:
    with open(Path(path).expanduser(), newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise ValueError("the file is empty")
    return rows[0], rows[1:]


async def import_file(app, path: str, list_name: str, bar: ProgressBar) -> ImportResult | None:
    """Import a CSV in chunks of ``CHUNK`` rows, advancing ``bar``; None when it could not run."""
    try:
        header, rows = read_csv(path)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        app.notify(f"Cannot read {path}: {exc}", title="Import failed", severity="error")
        return None
    bar.update(total=max(1, len(rows)), progress=0)
    total = ImportResult()
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start:start + CHUNK]
        res = await app.call(P.ContactsImport(list_name=list_name, header=header, rows=chunk, first_row=start + 2),
                             ImportResult)
        if res is None:
            return None
        total.imported += res.imported
        total.merged += res.merged
        total.invalid.extend(res.invalid)
        bar.advance(len(chunk))
    return total


def import_report(list_name: str, total: ImportResult) -> Text:
    report = Text(f"{list_name}: {total.imported} imported, {total.merged} merged, "
                  f"{len(total.invalid)} invalid", style="bold")
    for bad in total.invalid[:20]:
        report.append(f"\n  row {bad.get('row')}: {bad.get('reason')}", style="red")
    if len(total.invalid) > 20:
        report.append(f"\n  … and {len(total.invalid) - 20} more")
    return report


class WizardScreen(ReportsWorkerErrors, ModalScreen["list[P.Request] | None"]):
    BINDINGS = [
        Binding("ctrl+n", "step(1)", "Next"),
        Binding("ctrl+b", "step(-1)", "Back"),
        Binding("ctrl+s", "finish(False)", "Save draft"),
        Binding("ctrl+l", "finish(True)", "Launch"),
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
                with VerticalScroll(id="script"):
                    yield Label("Script (pick one, or write a new one)")
                    yield Select([], id="wz-script", prompt="choose a script")
                    yield Input(placeholder="new script name", id="wz-script-name")
                    yield TextArea("", id="wz-script-text")
                    yield Label("", id="wz-fields", classes="dialog-hint")
                with VerticalScroll(id="contacts"):
                    yield Label("Contact list")
                    yield Select([], id="wz-list", prompt="choose a list")
                    yield Label("…or import a CSV (first name, last name, phone, other columns become fields)")
                    with Horizontal(classes="row"):
                        yield Input(placeholder="path/to/contacts.csv", id="wz-csv")
                        yield Input(placeholder="list name", id="wz-csv-list")
                        yield Button("Import", id="wz-import")
                    yield ProgressBar(id="wz-progress", show_eta=False)
                    yield Static("", id="wz-import-report")
                with VerticalScroll(id="details"):
                    yield Input(c.name if c else "", placeholder="campaign title", id="wz-name")
                    yield Select(numbers, id="wz-number", prompt="phone number",
                                 value=c.number if c and c.number in dict(numbers) else Select.NULL)
                    yield Input(c.office if c else "", placeholder="office (default: the number's)", id="wz-office")
                    yield Select([("Agent", "agent"), ("Virtual Assistant", "assistant")], id="wz-operated",
                                 value=c.operated_by if c else "agent", allow_blank=False)
                    yield Input(", ".join(c.tags) if c else "", placeholder="tags, comma separated", id="wz-tags")
                with VerticalScroll(id="schedule"):
                    mode = "cron" if c and c.cron else ("at" if (c and c.schedule_at) or self.at else "now")
                    with RadioSet(id="wz-when"):
                        yield RadioButton("Send now (at launch)", value=mode == "now", id="when-now")
                        yield RadioButton("Once, at a time", value=mode == "at", id="when-at")
                        yield RadioButton("Recurring (cron)", value=mode == "cron", id="when-cron")
                    at = (dt.datetime.fromtimestamp(c.schedule_at).strftime("%Y-%m-%dT%H:%M") if c and c.schedule_at
                          else (f"{self.at:%Y-%m-%d}T09:00" if self.at else ""))
                    yield Input(at, placeholder="2026-12-01T09:00", id="wz-at")
                    yield Input(c.cron or "" if c else "", placeholder="0 9 * * 1  (Mondays 09:00)", id="wz-cron")
                    yield Input(c.tz if c else "UTC", placeholder="time zone, e.g. Europe/Paris", id="wz-tz")
                with VerticalScroll(id="options"):
                    with Horizontal(classes="row"):
                        yield Switch(c.stop_on_reply if c else False, id="wz-stop")
                        yield Label("stop on reply (for that contact)", classes="switch-label")
                    quiet = f"{c.quiet_start}-{c.quiet_end}" if c and c.quiet_start else ""
                    yield Input(quiet, placeholder="quiet hours, e.g. 21:00-08:00", id="wz-quiet")
                    yield Input(str(int(c.ttl_s)) if c and c.ttl_s else "", placeholder="TTL seconds", id="wz-ttl")
                    yield Input("", placeholder="A/B variant: script:percent, e.g. promo-b:30", id="wz-variant")
                with VerticalScroll(id="review"):
                    yield Static("", id="wz-review")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Back", id="wz-back")
                yield Button("Next", id="wz-next", variant="primary")
                yield Button("Save draft", id="wz-save")
                yield Button("Launch", id="wz-launch", variant="success")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#wz-progress").display = False
        self._show_step()
        self.load_choices()

    @work(exclusive=True, group="wz-choices", exit_on_error=False)
    async def load_choices(self) -> None:
        scripts = await self.app.call(P.ScriptList(), list[Script])  # type: ignore[attr-defined]
        lists = await self.app.call(P.ListsList(), list[ContactList])  # type: ignore[attr-defined]
        self.scripts, self.lists = scripts or [], lists or []
        sel = self.query_one("#wz-script", Select)
        sel.set_options([(f"{s.name} ({s.type}, {len(s.steps)} step(s))", s.name) for s in self.scripts]
                        + [("＋ write a new script", NEW_SCRIPT)])
        if self.campaign and self.campaign.script:
            sel.value = self.campaign.script
        self._fill_lists(self.campaign.list_name if self.campaign else None)

    def _fill_lists(self, value: str | None) -> None:
        sel = self.query_one("#wz-list", Select)
        sel.set_options([(f"{x.name} ({x.contacts} contacts)", x.name) for x in self.lists])
        if value and any(x.name == value for x in self.lists):
            sel.value = value

    def _show_step(self) -> None:
        self.query_one("#wz-body", ContentSwitcher).current = STEPS[self.step]
        t = Text()
        for i, name in enumerate(STEPS):
            t.append(f" {i + 1} {name.capitalize()} ", style="reverse bold" if i == self.step else "dim")
            if i < len(STEPS) - 1:
                t.append("›")
        self.query_one("#wz-steps", Static).update(t)
        new = self.query_one("#wz-script", Select).value == NEW_SCRIPT
        self.query_one("#wz-script-name").display = new
        self.query_one("#wz-script-text").display = new
        if STEPS[self.step] == "review":
            self.build_review()

    # ---- navigation ------------------------------------------------------------------------

    def action_step(self, delta: int) -> None:
        if delta > 0 and STEPS[self.step] == "script" and self.query_one("#wz-script", Select).value == NEW_SCRIPT:
            self.create_script()
            return
        self.step = max(0, min(len(STEPS) - 1, self.step + delta))
        self._show_step()

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
        self._show_step()

    @on(TextArea.Changed, "#wz-script-text")
    def _script_text(self, event: TextArea.Changed) -> None:
        fields = sorted(set(_FIELD.findall(event.text_area.text)))
        self.query_one("#wz-fields", Label).update("fields: " + (", ".join(fields) or "none"))

    @work(exclusive=True, group="wz-script", exit_on_error=False)
    async def create_script(self) -> None:
        name = self.query_one("#wz-script-name", Input).value.strip()
        text = self.query_one("#wz-script-text", TextArea).text.strip()
        if not name or not text:
            self.notify("A new script needs a name and a message.", severity="warning")
            return
        s = await self.app.call(P.ScriptCreate(name=name, steps=[{"text": text, "delay_s": 0}]), Script)  # type: ignore[attr-defined]
        if s is None:
            return
        self.scripts.append(s)
        sel = self.query_one("#wz-script", Select)
        sel.set_options([(x.name, x.name) for x in self.scripts] + [("＋ write a new script", NEW_SCRIPT)])
        sel.value = s.name
        self.notify(f"Script {s.name!r} saved.")
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
        when = self.query_one("#wz-when", RadioSet).pressed_button
        mode = when.id if when is not None else "when-now"
        quiet = (v("#wz-quiet") or "").split("-")
        ttl = v("#wz-ttl")
        variant = v("#wz-variant")
        variants = None
        if variant and ":" in variant:
            name, _, weight = variant.rpartition(":")
            variants = [{"script": name, "weight": float(weight or 0)}]
        return P.CampaignFields(
            name=v("#wz-name"), script=script if isinstance(script, str) and script != NEW_SCRIPT else None,
            list_name=lst if isinstance(lst, str) else None, number=number if isinstance(number, str) else None,
            office=v("#wz-office"), operated_by=self.query_one("#wz-operated", Select).value,  # type: ignore[arg-type]
            tags=[t.strip() for t in (v("#wz-tags") or "").split(",") if t.strip()],
            stop_on_reply=self.query_one("#wz-stop", Switch).value,
            at=v("#wz-at") if mode == "when-at" else None, cron=v("#wz-cron") if mode == "when-cron" else None,
            tz=v("#wz-tz"), ttl_s=float(ttl) if ttl and ttl.replace(".", "", 1).isdigit() else None,
            quiet_start=quiet[0].strip() if len(quiet) == 2 else None,
            quiet_end=quiet[1].strip() if len(quiet) == 2 else None, variants=variants)

    @work(exclusive=True, group="wz-review", exit_on_error=False)
    async def build_review(self) -> None:
        f = self.fields()
        t = Text()
        for label, value in (("Title", f.name), ("Script", f.script), ("Contact list", f.list_name),
                             ("Number", f.number), ("Office", f.office or "(the number's)"),
                             ("Operated by", f.operated_by), ("Tags", ", ".join(f.tags or []) or "—"),
                             ("Schedule", f.cron and f"recurring {f.cron} ({f.tz})" or f.at and f"at {f.at} ({f.tz})"
                              or "now"),
                             ("Stop on reply", "yes" if f.stop_on_reply else "no"),
                             ("Quiet hours", f"{f.quiet_start}-{f.quiet_end}" if f.quiet_start else "none")):
            t.append(f"{label:>14}  ", style="bold")
            t.append(f"{value or '—'}\n", style="" if value else "red")
        size = next((x.contacts for x in self.lists if x.name == f.list_name), 0)
        if f.script and f.list_name:
            sample = await self.app.call(P.ContactsList(list_name=f.list_name, limit=1), list[Contact])  # type: ignore[attr-defined]
            if sample:
                pv = await self.app.call(P.ScriptPreview(contact=sample[0].phone, script=f.script), Preview)  # type: ignore[attr-defined]
                if pv is not None:
                    t.append(f"\nPreview for {sample[0].first_name} {sample[0].last_name} ({sample[0].phone}):\n",
                             style="bold")
                    if pv.text is None:
                        t.append(f"missing field {pv.missing_field!r}\n", style="red")
                    else:
                        t.append(pv.text + "\n", style="italic")
                        price = self._price(f.number)
                        t.append(f"\n{pv.encoding} · {pv.segments} segment(s) per message · {size} contacts · "
                                 f"≈{pv.segments * size} segments · ≈{pv.segments * size * price:.4f} cost")
        else:
            t.append("\nChoose a script and a contact list to see a preview.", style="yellow")
        self.query_one("#wz-review", Static).update(t)

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
        if self.campaign is None:
            self.dismiss([P.CampaignCreate(fields=f, launch=launch)])
            return
        reqs: list[P.Request] = [P.CampaignEdit(campaign_id=self.campaign.id, fields=f)]
        if launch:
            reqs.append(P.CampaignAction(campaign_id=self.campaign.id, action="launch"))
        self.dismiss(reqs)

    def action_cancel(self) -> None:
        self.dismiss(None)
