"""Campaigns: the seed's four tabs (Active, Scheduled, Draft, Archived) and their actions.

Each tab is one ``campaign_list`` query (search text and ``#tag`` in one box). The row under the
cursor decides which actions are offered: the daemon sends each campaign's allowed ``actions``,
its contact list's name and, for a draft, why it cannot launch yet (``not_ready``), so Launch is
greyed out *with the reasons* shown and a tab costs one request however many drafts it has. The
Scheduled tab has a month calendar with a count per day (and a table view); a day can start the
wizard with its date filled in. Live campaign events mark the tab stale; it reloads at most once
a second.
"""

from __future__ import annotations

import datetime as dt

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Input, Static, TabbedContent, TabPane

from gatewayd import protocol as P
from gatewayd.models import Role

from ..views import TAB_STATUSES, Campaign
from ..widgets.calendar import MonthCalendar
from ..widgets.format import campaign_status, clip, zoned
from .base import GatewayScreen
from .modals import ConfirmScreen

COLUMNS = {
    "active": ("Title", "Office", "Phone Number", "Contact List", "Operated By", "Tags", "Last updated",
               "Launched", "Status"),
    "scheduled": ("Title", "Next send", "Phone Number", "Office", "Contact List", "Recurring", "Tags"),
    "draft": ("Title", "Office", "Phone Number", "Contact List", "Tags", "Last updated", "Ready"),
    "archived": ("Title", "Office", "Phone Number", "Contact List", "Tags", "Launched", "Archived"),
}
AGENT_ACTIONS = ("new", "clone", "pause_resume", "stop_archive", "edit", "launch", "archive", "add_on_day")


def parse_query(text: str) -> tuple[str | None, str | None]:
    """``spring #sale`` -> (search "spring", tag "sale")."""
    words, tag = [], None
    for w in text.split():
        if w.startswith("#") and len(w) > 1:
            tag = w[1:]
        else:
            words.append(w)
    return (" ".join(words) or None), tag


class CampaignsScreen(GatewayScreen):
    MODE = "campaigns"
    BINDINGS = [
        Binding("left_square_bracket", "tab(-1)", "Prev tab", key_display="[", show=False),
        Binding("right_square_bracket", "tab(1)", "Tabs", key_display="[ ]"),
        Binding("enter", "view", "View", show=False),
        Binding("w", "new", "New"),
        Binding("k", "clone", "Clone"),
        Binding("p", "pause_resume", "Pause/Resume"),
        Binding("x", "stop_archive", "Stop+Archive"),
        Binding("e", "edit", "Edit"),
        Binding("L", "launch", "Launch"),
        Binding("a", "archive", "Archive"),
        Binding("plus", "add_on_day", "Add on day", key_display="+"),
        Binding("v", "toggle_view", "Calendar/table"),
        Binding("t", "toggle_tz", "Time zone"),
        Binding("slash", "search", "Search", key_display="/"),
    ]
    ROLE_ACTIONS = {a: Role.AGENT for a in AGENT_ACTIONS}

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[Campaign]] = {tab: [] for tab in TAB_STATUSES}
        self.queries: dict[str, str] = {tab: "" for tab in TAB_STATUSES}
        self.show_tz = False
        self.calendar_view = True
        self._stale = False

    def compose_body(self) -> ComposeResult:
        with TabbedContent(id="camp-tabs", initial="active"):
            for tab in TAB_STATUSES:
                with TabPane(tab.capitalize(), id=tab):
                    yield Input(placeholder="search title… #tag (Enter)", id=f"q-{tab}", classes="search")
                    if tab == "scheduled":
                        with Horizontal(id="sched-cal-box"):
                            yield MonthCalendar(id="sched-cal", today=dt.date.fromtimestamp(self.gw.clock()))
                            yield Static("", id="sched-day")
                    yield DataTable(id=f"t-{tab}", cursor_type="row", zebra_stripes=True)
        yield Static("", id="camp-info")

    def on_mount(self) -> None:
        super().on_mount()
        for tab, cols in COLUMNS.items():
            self.query_one(f"#t-{tab}", DataTable).add_columns(*cols)
        self.query_one("#t-scheduled").display = not self.calendar_view
        self.set_interval(1.0, self._reload_if_stale)

    # ---- data ------------------------------------------------------------------------------

    @property
    def tab(self) -> str:
        tabs = self.query(TabbedContent)
        return (tabs.first().active if tabs else "") or "active"

    def reload(self) -> None:
        self.load_tab(self.tab)

    @work(exclusive=True, group="campaign-list", exit_on_error=False)
    async def load_tab(self, tab: str) -> None:
        search, tag = parse_query(self.queries[tab])
        rows = await self.gw.call(P.CampaignList(status=TAB_STATUSES[tab], search=search, tag=tag), list[Campaign])
        if rows is None:
            return
        if tab == "scheduled":
            rows.sort(key=lambda c: c.next_run or c.schedule_at or 0)
        self.rows[tab] = rows
        self._fill(tab)

    def _fill(self, tab: str) -> None:
        table = self.query_one(f"#t-{tab}", DataTable)
        keep = table.cursor_row
        table.clear()
        for c in self.rows[tab]:
            table.add_row(*self._cells(tab, c), key=str(c.id))
        if self.rows[tab]:
            table.move_cursor(row=min(keep, len(self.rows[tab]) - 1), animate=False)
        if tab == "scheduled":
            self._fill_calendar()
        self._show_info()

    def _cells(self, tab: str, c: Campaign) -> list:
        lst = c.list_name or "—"
        tags = ", ".join(c.tags) or "—"
        z = lambda ts: zoned(ts, c.tz, self.show_tz)  # noqa: E731
        who = "Virtual Assistant" if c.operated_by == "assistant" else "Agent"
        if tab == "active":
            return [clip(c.name, 28), c.office, c.number or "—", lst, who, tags, z(c.updated_at),
                    z(c.launched_at), campaign_status(c.status)]
        if tab == "scheduled":
            return [clip(c.name, 28), z(c.next_run or c.schedule_at), c.number or "—", c.office, lst,
                    c.cron or "once", tags]
        if tab == "draft":
            ready = c.not_ready
            mark = Text("?", style="dim") if ready is None else (
                Text("✔ ready", style="green") if not ready else Text(f"✖ {len(ready)} issue(s)", style="red"))
            return [clip(c.name, 28), c.office, c.number or "—", lst, tags, z(c.updated_at), mark]
        return [clip(c.name, 28), c.office, c.number or "—", lst, tags, z(c.launched_at), z(c.updated_at)]

    def _fill_calendar(self) -> None:
        counts: dict[dt.date, int] = {}
        for c in self.rows["scheduled"]:
            ts = c.next_run or c.schedule_at
            if ts:
                day = dt.datetime.fromtimestamp(ts).date()
                counts[day] = counts.get(day, 0) + 1
        cal = self.query_one(MonthCalendar)
        cal.set_counts(counts)
        self._show_day(cal.day)

    def _show_day(self, day: dt.date) -> None:
        items = [c for c in self.rows["scheduled"]
                 if (ts := c.next_run or c.schedule_at) and dt.datetime.fromtimestamp(ts).date() == day]
        t = Text()
        t.append(f"{day:%a %d %b %Y}\n", style="bold")
        if not items:
            t.append("No campaigns scheduled.\n", style="dim")
        for c in items:
            ts = c.next_run or c.schedule_at
            t.append(f"• {c.name}", style="bold cyan")
            t.append(f"  {zoned(ts, c.tz, True)[11:]}\n  {c.number or '—'} · {c.office} · "
                     f"{c.list_name or '—'}" + (f" · {c.cron}" if c.cron else "") + "\n")
        if self.gw.can(Role.AGENT):
            t.append("+ add a campaign on this day", style="dim")
        self.query_one("#sched-day", Static).update(t)

    @on(MonthCalendar.DayChanged)
    def _day_changed(self, event: MonthCalendar.DayChanged) -> None:
        self._show_day(event.day)
        self.refresh_bindings()

    def selected(self) -> Campaign | None:
        tab = self.tab
        if tab == "scheduled" and self.calendar_view:
            if not self.query(MonthCalendar):
                return None
            day = self.query_one(MonthCalendar).day
            items = [c for c in self.rows[tab]
                     if (ts := c.next_run or c.schedule_at) and dt.datetime.fromtimestamp(ts).date() == day]
            return items[0] if items else None
        found = self.query(f"#t-{tab}")
        rows = self.rows[tab]
        if not found or not rows:
            return None
        table = found.first(DataTable)
        if not 0 <= table.cursor_row < len(rows):
            return None
        return rows[table.cursor_row]

    @on(DataTable.RowHighlighted)
    def _highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._show_info()
        self.refresh_bindings()

    def _show_info(self) -> None:
        c = self.selected()
        info = self.query_one("#camp-info", Static)
        if c is None:
            info.update(Text("No campaign selected." if not self.rows[self.tab] else "", style="dim"))
            return
        t = Text()
        t.append(f"#{c.id} {c.name}", style="bold")
        t.append(" · ")
        t.append_text(campaign_status(c.status))
        if c.status_reason and c.status_reason != c.status:
            t.append(f" ({c.status_reason})")
        if c.recurring and c.next_run:
            t.append(f" · next send {zoned(c.next_run, c.tz, True)}")
        ready = c.not_ready
        if c.status == "draft" and ready:
            t.append("\nLaunch disabled: " + "; ".join(ready), style="red")
        info.update(t)

    def on_live_batch(self, msg) -> None:
        if msg.batch.campaign_ids or msg.batch.lists_changed:
            self._stale = True

    def _reload_if_stale(self) -> None:
        if self._stale:
            self._stale = False
            self.reload()

    @on(TabbedContent.TabActivated)
    def _tab_changed(self, _event) -> None:
        self.reload()
        self.refresh_bindings()

    @on(Input.Submitted, ".search")
    def _search(self, event: Input.Submitted) -> None:
        tab = (event.input.id or "q-active")[2:]
        self.queries[tab] = event.value
        self.query_one(f"#t-{tab}", DataTable).focus()
        self.load_tab(tab)

    # ---- actions ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        allowed = super().check_action(action, parameters)
        if not allowed:
            return allowed
        c = self.selected()
        acts = set(c.actions) if c else set()
        tab = self.tab
        if action in ("add_on_day", "toggle_view"):
            return tab == "scheduled"
        if action == "pause_resume":
            return True if {"pause", "resume"} & acts else (False if tab != "active" else None)
        if action == "stop_archive":
            return tab in ("active", "scheduled") and ("archive" in acts or None)
        if action == "edit":
            return tab == "draft" and ("edit" in acts or None)
        if action == "launch":
            if tab != "draft":
                return False
            return True if c is not None and c.not_ready == [] else None
        if action == "archive":
            return tab == "draft" and ("archive" in acts or None)
        if action in ("clone", "view"):
            return c is not None or None
        return True

    def action_search(self) -> None:
        self.query_one(f"#q-{self.tab}", Input).focus()

    def action_toggle_tz(self) -> None:
        self.show_tz = not self.show_tz
        self._fill(self.tab)

    def action_toggle_view(self) -> None:
        self.calendar_view = not self.calendar_view
        self.query_one("#sched-cal-box").display = self.calendar_view
        self.query_one("#t-scheduled").display = not self.calendar_view
        (self.query_one(MonthCalendar) if self.calendar_view else self.query_one("#t-scheduled")).focus()

    def action_view(self) -> None:
        from .campaign_detail import CampaignDetailScreen

        c = self.selected()
        if c is not None:
            self.app.push_screen(CampaignDetailScreen(c.id))

    @on(DataTable.RowSelected)
    def _open(self, _event: DataTable.RowSelected) -> None:
        self.action_view()

    def action_new(self, at: dt.date | None = None) -> None:
        from .wizard import WizardScreen

        self.app.push_screen(WizardScreen(at=at), self._wizard_done)

    def action_add_on_day(self) -> None:
        self.action_new(self.query_one(MonthCalendar).day)

    def action_edit(self) -> None:
        from .wizard import WizardScreen

        c = self.selected()
        if c is not None:
            self.app.push_screen(WizardScreen(campaign=c), self._wizard_done)

    def _wizard_done(self, reqs: list[P.Request] | None) -> None:
        if reqs:
            self._submit(reqs)

    @work(group="campaign-submit", exit_on_error=False)
    async def _submit(self, reqs: list[P.Request]) -> None:
        c = None
        for req in reqs:
            c = await self.gw.call(req, Campaign)
            if c is None:
                break
        if c is not None:
            self.notify(f"Campaign #{c.id} {c.name!r} is {c.status}.", title="Saved")
        self.reload()

    def action_clone(self) -> None:
        if (c := self.selected()) is not None:
            self._act(c, "clone")

    def action_pause_resume(self) -> None:
        c = self.selected()
        if c is not None:
            self._act(c, "resume" if "resume" in c.actions else "pause")

    def action_launch(self) -> None:
        if (c := self.selected()) is not None:
            self._act(c, "launch")

    def action_archive(self) -> None:
        c = self.selected()
        if c is not None:
            self._confirm(c, f"Archive draft {c.name!r}?", "The draft moves to the Archived tab. You can still "
                          "view and clone it.", "Archive")

    def action_stop_archive(self) -> None:
        c = self.selected()
        if c is None:
            return
        number = next((n for n in (self.gw.status.numbers if self.gw.status else []) if n.address == c.number), None)
        if number is None or number.reusable:
            where = (f"Conversations that need attention move to the inbox(es) of {c.number or 'the number'}'s "
                     "unsolicited-message settings.")
        else:
            where = (f"{c.number} is a single-use number: pending conversations are closed and no more replies "
                     "will be sent. Make sure every contact has been answered first.")
        self._confirm(c, f"Stop and archive {c.name!r}?", f"Nothing more is sent; queued messages are withdrawn. "
                      f"{where} The campaign moves to the Archived tab.", "Stop and archive")

    def _confirm(self, c: Campaign, title: str, text: str, yes: str) -> None:
        def answered(ok: bool | None) -> None:
            if ok:
                self._act(c, "archive")

        self.app.push_screen(ConfirmScreen(title, text, yes=yes), answered)

    @work(group="campaign-action", exit_on_error=False)
    async def _act(self, c: Campaign, action: str) -> None:
        res = await self.gw.call(P.CampaignAction(campaign_id=c.id, action=action), Campaign)  # type: ignore[arg-type]
        if res is None:
            return
        if action == "clone":
            self.notify(f"Cloned {c.name!r} as draft #{res.id}.", title="Cloned")
        else:
            self.notify(f"{c.name!r} is now {res.status}.", title=action.capitalize())
        self.reload()
