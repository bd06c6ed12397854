"""Contacts, lists and the suppression list (SPEC §4, issue 7 item 7).

Contacts are paged by id (``after_id``) and searched by name or phone on the daemon; Enter on a
list shows its contacts. Import reads a CSV here and sends it in chunks with a progress bar and
the invalid-row report; export pages through the daemon into a CSV next to where the console runs.
Suppressions show why a number is never messaged; lifting one asks first (lifting every
suppression of a phone, automatic unsubscribes included, is for admins).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, ProgressBar, Static, TabbedContent, TabPane

from gatewayd import protocol as P
from gatewayd.models import Role

from ..views import Contact, ContactList, ImportResult, Suppression
from ..widgets.format import zoned
from .base import GatewayScreen, ReportsWorkerErrors
from .modals import ConfirmScreen

PAGE = 100
CHUNK = 1000


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


class ImportScreen(ReportsWorkerErrors, ModalScreen[str | None]):
    """Import a CSV into a list; returns the list name when something was imported."""

    BINDINGS = [Binding("escape", "close", "Close")]

    def __init__(self, list_name: str = "") -> None:
        super().__init__(classes="modal")
        self.list_name = list_name
        self.done: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="import"):
            yield Label("Import contacts from CSV", classes="dialog-title")
            yield Input(placeholder="path/to/contacts.csv", id="imp-path")
            yield Input(self.list_name, placeholder="list name (default: file name)", id="imp-list")
            yield Button("Import", id="imp-go", variant="primary")
            yield ProgressBar(id="imp-progress", show_eta=False)
            yield Static("", id="imp-report")

    def on_mount(self) -> None:
        self.query_one("#imp-progress").display = False
        self.query_one("#imp-path").focus()

    @on(Button.Pressed, "#imp-go")
    @on(Input.Submitted)
    def _go(self) -> None:
        path = self.query_one("#imp-path", Input).value.strip()
        if path:
            self.run_import(path, self.query_one("#imp-list", Input).value.strip() or Path(path).stem)

    @work(exclusive=True, group="import", exit_on_error=False)
    async def run_import(self, path: str, list_name: str) -> None:
        bar = self.query_one("#imp-progress", ProgressBar)
        bar.display = True
        total = await import_file(self.app, path, list_name, bar)
        if total is not None:
            self.done = list_name
            self.query_one("#imp-report", Static).update(import_report(list_name, total))

    def action_close(self) -> None:
        self.dismiss(self.done)


class ContactsScreen(GatewayScreen):
    MODE = "contacts"
    BINDINGS = [
        Binding("left_square_bracket", "tab(-1)", "Prev tab", key_display="[", show=False),
        Binding("right_square_bracket", "tab(1)", "Tabs", key_display="[ ]"),
        Binding("slash", "search", "Search", key_display="/"),
        Binding("greater_than_sign", "more", "More", key_display=">"),
        Binding("I", "import", "Import"),
        Binding("E", "export", "Export"),
        Binding("x", "lift", "Lift"),
        Binding("escape", "all_lists", "All lists", show=False),
    ]
    ROLE_ACTIONS = {"import": Role.AGENT, "lift": Role.AGENT}

    def __init__(self) -> None:
        super().__init__()
        self.list_name: str | None = None
        self.search: str | None = None
        self.contacts: list[Contact] = []
        self.lists: list[ContactList] = []
        self.suppressions: list[Suppression] = []
        self.more = False

    def compose_body(self) -> ComposeResult:
        with TabbedContent(id="ct-tabs", initial="contacts"):
            with TabPane("Contacts", id="contacts"):
                yield Input(placeholder="search name or phone (Enter)", id="ct-search", classes="search")
                yield Label("", id="ct-caption")
                yield DataTable(id="ct-table", cursor_type="row", zebra_stripes=True)
            with TabPane("Lists", id="lists"):
                yield DataTable(id="ls-table", cursor_type="row", zebra_stripes=True)
            with TabPane("Suppressions", id="suppressions"):
                yield Input(placeholder="phone (Enter)", id="sp-search", classes="search")
                yield DataTable(id="sp-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#ct-table", DataTable).add_columns("First Name", "Last Name", "Phone Number", "Created",
                                                            "Fields")
        self.query_one("#ls-table", DataTable).add_columns("List", "Contacts", "Created")
        self.query_one("#sp-table", DataTable).add_columns("Phone", "Scope", "Where", "Reason", "Source", "Created",
                                                            "By")

    @property
    def tab(self) -> str:
        return self.query_one(TabbedContent).active or "contacts"

    def reload(self) -> None:
        {"contacts": self.load_contacts, "lists": self.load_lists,
         "suppressions": self.load_suppressions}[self.tab]()

    @on(TabbedContent.TabActivated, "#ct-tabs")
    def _tab(self, _event) -> None:
        self.reload()
        self.refresh_bindings()

    @work(exclusive=True, group="ct-contacts", exit_on_error=False)
    async def load_contacts(self, after_id: int = 0) -> None:
        rows = await self.gw.call(P.ContactsList(list_name=self.list_name, search=self.search, after_id=after_id,
                                                 limit=PAGE), list[Contact])
        if rows is None:
            return
        table = self.query_one("#ct-table", DataTable)
        if after_id == 0:
            table.clear()
            self.contacts = []
        self.contacts.extend(rows)
        self.more = len(rows) == PAGE
        for c in rows:
            fields = ", ".join(f"{k}={v}" for k, v in c.fields.items())
            table.add_row(c.first_name, c.last_name, c.phone, zoned(c.created_at, None, False), fields[:40],
                          key=str(c.id))
        where = f"list {self.list_name}" if self.list_name else "all lists"
        self.query_one("#ct-caption", Label).update(
            f"{len(self.contacts)} contact(s) shown · {where}" + (" · > loads more" if self.more else "")
            + (" · Esc: all lists" if self.list_name else ""))

    @work(exclusive=True, group="ct-lists", exit_on_error=False)
    async def load_lists(self) -> None:
        rows = await self.gw.call(P.ListsList(), list[ContactList])
        if rows is None:
            return
        self.lists = rows
        table = self.query_one("#ls-table", DataTable)
        table.clear()
        for x in rows:
            table.add_row(x.name, f"{x.contacts:,}", zoned(x.created_at, None, False), key=x.name)

    @work(exclusive=True, group="ct-supp", exit_on_error=False)
    async def load_suppressions(self) -> None:
        phone = self.query_one("#sp-search", Input).value.strip() or None
        rows = await self.gw.call(P.Suppressions(phone=phone, limit=200), list[Suppression])
        if rows is None:
            return
        self.suppressions = rows
        table = self.query_one("#sp-table", DataTable)
        table.clear()
        for s in rows:
            where = f"campaign #{s.campaign_id}" if s.campaign_id else (s.number or "everywhere")
            table.add_row(s.phone, s.scope, where, s.reason[:40], s.source, zoned(s.created_at, None, False),
                          s.created_by or "", key=str(s.id))

    # ---- actions ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        allowed = super().check_action(action, parameters)
        if not allowed:
            return allowed
        if action == "lift":
            return self.tab == "suppressions"
        if action in ("more", "all_lists"):
            return self.tab == "contacts"
        return True

    def action_search(self) -> None:
        self.query_one("#sp-search" if self.tab == "suppressions" else "#ct-search", Input).focus()

    @on(Input.Submitted, "#ct-search")
    def _search(self, event: Input.Submitted) -> None:
        self.search = event.value.strip() or None
        self.query_one("#ct-table").focus()
        self.load_contacts()

    @on(Input.Submitted, "#sp-search")
    def _search_supp(self) -> None:
        self.query_one("#sp-table").focus()
        self.load_suppressions()

    @on(DataTable.RowSelected, "#ls-table")
    def _open_list(self, event: DataTable.RowSelected) -> None:
        self.list_name = str(event.row_key.value)
        self.query_one(TabbedContent).active = "contacts"

    def action_all_lists(self) -> None:
        if self.list_name:
            self.list_name = None
            self.load_contacts()

    def action_more(self) -> None:
        if self.more and self.contacts:
            self.load_contacts(self.contacts[-1].id)

    def action_import(self) -> None:
        def done(list_name: str | None) -> None:
            if list_name:
                self.list_name = list_name
                self.reload()

        self.app.push_screen(ImportScreen(self.list_name or ""), done)

    def action_export(self) -> None:
        self._export()

    @work(exclusive=True, group="ct-export", exit_on_error=False)
    async def _export(self) -> None:
        fields = await self.gw.call(P.ContactsFields(list_name=self.list_name), list[str]) or []
        path = Path(os.getcwd()) / f"contacts-{self.list_name or 'all'}.csv"
        n, after = 0, 0
        try:
            with open(path, "w", newline="", encoding="utf-8") as f:
                w = csv.writer(f)
                w.writerow(["first_name", "last_name", "phone", "created_at", *fields])
                while True:
                    rows = await self.gw.call(P.ContactsList(list_name=self.list_name, after_id=after, limit=5000),
                                              list[Contact])
                    if not rows:
                        break
                    for c in rows:
                        w.writerow([c.first_name, c.last_name, c.phone, zoned(c.created_at, None, False),
                                    *[c.fields.get(k, "") for k in fields]])
                    n += len(rows)
                    after = rows[-1].id
        except OSError as exc:
            self.notify(f"Cannot write {path}: {exc.strerror}", title="Export failed", severity="error")
            return
        self.notify(f"{n} contact(s) written to {path}", title="Exported")

    def action_lift(self) -> None:
        table = self.query_one("#sp-table", DataTable)
        if not self.suppressions or not 0 <= table.cursor_row < len(self.suppressions):
            return
        s = self.suppressions[table.cursor_row]
        if s.scope == "all" and not self.gw.can(Role.ADMIN):
            self.notify("Only an admin can lift a suppression that applies everywhere.", severity="warning")
            return
        what = (f"campaign #{s.campaign_id}" if s.campaign_id else s.number) or "every number and campaign"
        note = " This was an automatic unsubscribe after repeated failures." if s.source == "auto" else ""

        def done(yes: bool | None) -> None:
            if yes:
                self._lift(s)

        self.app.push_screen(ConfirmScreen(f"Lift the suppression of {s.phone}?",
                                           f"{s.phone} can be messaged again by {what}. Reason it was suppressed: "
                                           f"{s.reason or '—'}.{note}", yes="Lift"), done)

    @work(group="ct-lift", exit_on_error=False)
    async def _lift(self, s: Suppression) -> None:
        if await self.gw.do(P.OptIn(phone=s.phone, number=s.number, campaign_id=s.campaign_id)):
            self.notify(f"{s.phone} may be messaged again.", title="Lifted")
            self.load_suppressions()
