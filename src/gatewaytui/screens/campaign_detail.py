"""One campaign: the seed's tabs Activity, General, Contacts and Analytics.

Activity is the triage panel filtered to this campaign. Contacts pages ``campaign_contacts``
(keyset, never the whole list) with the delivery indicator (delivered / retrying / failed), the
failed reason, opt-out and an SMS preview of the rendered message. Analytics draws
``campaign_report`` as charts and redraws at most every two seconds while the campaign's events
arrive; ``E`` exports the report as CSV next to where the console runs.
"""

from __future__ import annotations

import os
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Static, TabbedContent, TabPane

from gatewayd import protocol as P
from gatewayd.models import Role

from ..views import Campaign, CampaignContact, Preview, Report
from ..widgets.charts import ActivityChart, SegmentsChart
from ..widgets.format import campaign_status, duration, zoned
from ..widgets.inbox_panel import InboxPanel
from .base import GatewayScreen
from .modals import ConfirmScreen, TextScreen

PAGE = 100


def delivery_indicator(cc: CampaignContact) -> Text:
    """Seed 001's Delivered column: green check, yellow clock (retrying), red flag (not delivered)."""
    s = cc.message_state
    if s in ("delivered", "sent"):
        return Text("✔", style="bold green")
    if s in ("queued", "sending"):
        return Text("◷", style="yellow")
    if s in ("undelivered", "failed", "expired", "unreachable"):
        return Text("⚑", style="bold red")
    return Text("·", style="dim")


def general_text(c: Campaign) -> Text:
    t = Text()
    rows = [
        ("Title", c.name), ("Status", c.status + (f" — {c.status_reason}" if c.status_reason else "")),
        ("Script", c.script or str(c.script_id or "—")), ("Contact list", c.list_name or "—"),
        ("Phone number", c.number or "—"), ("Office", c.office),
        ("Operated by", "Virtual Assistant" if c.operated_by == "assistant" else "Agent"),
        ("Tags", ", ".join(c.tags) or "—"), ("Stop on reply", "yes" if c.stop_on_reply else "no"),
        ("Schedule", f"recurring {c.cron}" if c.cron else (zoned(c.schedule_at, c.tz, True) if c.schedule_at
                                                            else "now")),
        ("Next send", zoned(c.next_run, c.tz, True) if c.next_run else "—"),
        ("Quiet hours", f"{c.quiet_start}–{c.quiet_end}" if c.quiet_start else "none"),
        ("Sending hours", c.hours or "default"),
        ("TTL", duration(c.ttl_s) if c.ttl_s else "default"),
        ("A/B variants", ", ".join(f"{v.get('script_id')}:{v.get('weight')}%" for v in c.variants) or "none"),
        ("Created", f"{zoned(c.created_at, c.tz, True)} by {c.created_by or '—'}"),
        ("Launched", zoned(c.launched_at, c.tz, True)), ("Last updated", zoned(c.updated_at, c.tz, True)),
        ("Recipients", ", ".join(f"{k} {v}" for k, v in sorted(c.recipients.items())) or "—"),
    ]
    if c.budget:
        rows.insert(5, ("Budget", c.budget))
    for k, v in rows:
        t.append(f"{k:>14}  ", style="bold")
        t.append(f"{v}\n")
    if c.waiting:
        t.append(f"\n{c.waiting[:1].upper()}{c.waiting[1:]}\n", style="yellow")
    if c.description:
        t.append(f"\n{c.description}\n")
    if c.held_by:
        t.append("\nWaiting: " + ", ".join(f"{k} {v}" for k, v in sorted(c.held_by.items())), style="yellow")
    if c.not_ready:
        t.append("\nNot ready to launch: " + "; ".join(c.not_ready), style="red")
    warnings = [f["message"] for f in c.checks or [] if f.get("severity") == "warning"]
    if warnings:
        t.append("\nWarnings: " + "; ".join(warnings), style="yellow")
    return t


def summary_text(r: Report) -> Text:
    s, e, resp, perf = r.send_status, r.engagement, r.responses, r.performance
    t = Text()
    t.append("Send status ", style="bold")
    t.append(f"total {s.total}  ")
    t.append(f"succeeded {s.succeeded}  ", style="green")
    t.append(f"failed {s.failed}  ", style="red")
    t.append(f"pending {s.pending}  unreachable {s.unreachable}  ignored {s.ignored}\n")
    t.append("Engagement  ", style="bold")
    t.append(f"sent {e.contacts_sent}  responded {e.contacts_responded}  opt-outs {e.opt_outs}  ")
    t.append(f"rate {e.rate:.1%}\n", style="bold cyan")
    t.append("Responses   ", style="bold")
    t.append(f"contact {resp.contact}  agent {resp.agent}  assistant {resp.assistant}  "
             f"median agent response {duration(resp.median_agent_response_s)}\n")
    t.append("Segments    ", style="bold")
    t.append(f"{perf.total_segments}  cost {perf.cost:.4f}")
    return t


class CampaignDetailScreen(GatewayScreen):
    MODE = "campaigns"
    BINDINGS = [
        Binding("left_square_bracket", "tab(-1)", "Prev tab", key_display="[", show=False),
        Binding("right_square_bracket", "tab(1)", "Tabs", key_display="[ ]"),
        Binding("escape", "back", "Back"),
        Binding("p", "pause_resume", "Pause/Resume"),
        Binding("x", "opt_out", "Opt out"),
        Binding("v", "preview", "SMS preview"),
        Binding("greater_than_sign", "more", "More", key_display=">"),
        Binding("E", "export", "Export CSV"),
    ]
    ROLE_ACTIONS = {"pause_resume": Role.AGENT, "opt_out": Role.AGENT}

    def __init__(self, campaign_id: int) -> None:
        super().__init__()
        self.campaign_id = campaign_id
        self.campaign: Campaign | None = None
        self.contacts: list[CampaignContact] = []
        self.report: Report | None = None
        self._stale = False

    def compose_body(self) -> ComposeResult:
        yield Static(f"Campaign #{self.campaign_id}", id="cd-title")
        with TabbedContent(id="cd-tabs", initial="activity"):
            with TabPane("Activity", id="activity"):
                yield InboxPanel(self.campaign_id, id="cd-inbox")
            with TabPane("General", id="general"):
                yield Static("loading…", id="cd-general")
            with TabPane("Contacts", id="contacts"):
                yield DataTable(id="cd-contacts", cursor_type="row", zebra_stripes=True)
            with TabPane("Analytics", id="analytics"):
                yield Static("loading…", id="cd-summary")
                with Horizontal(id="cd-charts"):
                    yield ActivityChart(id="cd-activity")
                    yield SegmentsChart(id="cd-segments")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#cd-contacts", DataTable).add_columns(
            "First Name", "Last Name", "Phone Number", "Created", "Delivered", "Failed Reason", "Step", "State")
        self.set_interval(2.0, self._reload_if_stale)
        self.load_campaign()

    @property
    def tab(self) -> str:
        return self.query_one(TabbedContent).active or "activity"

    def reload(self) -> None:
        self.load_campaign()
        {"contacts": self.load_contacts, "analytics": self.load_report,
         "activity": self.query_one(InboxPanel).reload}.get(self.tab, lambda: None)()

    @on(TabbedContent.TabActivated, "#cd-tabs")
    def _tab(self, _event) -> None:
        if self.tab == "contacts" and not self.contacts:
            self.load_contacts()
        elif self.tab == "analytics":
            self.load_report()
        self.refresh_bindings()

    @work(exclusive=True, group="cd-campaign", exit_on_error=False)
    async def load_campaign(self) -> None:
        c = await self.gw.call(P.CampaignShow(campaign_id=self.campaign_id), Campaign)
        if c is None:
            return
        self.campaign = c
        title = Text()
        title.append(f" #{c.id} {c.name} ", style="bold reverse")
        title.append(" ")
        title.append_text(campaign_status(c.status))
        title.append(f" · {c.number or '—'} · {c.office} · {c.list_name or '—'}")
        self.query_one("#cd-title", Static).update(title)
        self.query_one("#cd-general", Static).update(general_text(c))
        self.refresh_bindings()

    @work(exclusive=True, group="cd-contacts", exit_on_error=False)
    async def load_contacts(self, after_id: int = 0) -> None:
        rows = await self.gw.call(P.CampaignContacts(campaign_id=self.campaign_id, after_id=after_id, limit=PAGE),
                                  list[CampaignContact])
        if rows is None:
            return
        table = self.query_one("#cd-contacts", DataTable)
        if after_id == 0:
            table.clear()
            self.contacts = []
        self.contacts.extend(rows)
        for cc in rows:
            table.add_row(cc.first_name or "", cc.last_name or "", cc.phone, zoned(cc.created_at, None, False),
                          delivery_indicator(cc), cc.failed_reason or "", str(cc.step or ""), cc.state or "",
                          key=str(cc.contact_id))
        if len(rows) == PAGE:
            self.notify(f"{len(self.contacts)} contacts loaded; ] loads more.", timeout=2)

    @work(exclusive=True, group="cd-report", exit_on_error=False)
    async def load_report(self) -> None:
        r = await self.gw.call(P.CampaignReport(campaign_id=self.campaign_id), Report)
        if r is None:
            return
        self.report = r
        self.query_one("#cd-summary", Static).update(summary_text(r))
        self.query_one(ActivityChart).show(r.activity)
        self.query_one(SegmentsChart).show(r.performance)

    def on_live_batch(self, msg) -> None:
        if self.campaign_id in msg.batch.campaign_ids:
            self._stale = True
        self.query_one(InboxPanel).on_live(msg.batch)

    def _reload_if_stale(self) -> None:
        if self._stale:
            self._stale = False
            self.load_campaign()
            if self.tab == "analytics":
                self.load_report()

    # ---- actions ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        allowed = super().check_action(action, parameters)
        if not allowed:
            return allowed
        tab = self.tab if self.is_mounted else "activity"
        if action in ("opt_out", "preview", "more"):
            return tab == "contacts"
        if action == "export":
            return tab == "analytics"
        if action == "pause_resume":
            acts = set(self.campaign.actions) if self.campaign else set()
            return True if {"pause", "resume"} & acts else None
        return True

    def action_back(self) -> None:
        self.app.pop_screen()

    def _contact(self) -> CampaignContact | None:
        table = self.query_one("#cd-contacts", DataTable)
        if not self.contacts or not 0 <= table.cursor_row < len(self.contacts):
            return None
        return self.contacts[table.cursor_row]

    def action_more(self) -> None:
        if self.contacts:
            self.load_contacts(self.contacts[-1].contact_id)

    def action_pause_resume(self) -> None:
        if self.campaign is not None:
            self._act("resume" if "resume" in self.campaign.actions else "pause")

    @work(group="cd-action", exit_on_error=False)
    async def _act(self, action: str) -> None:
        res = await self.gw.call(P.CampaignAction(campaign_id=self.campaign_id, action=action), Campaign)  # type: ignore[arg-type]
        if res is not None:
            self.notify(f"{res.name!r} is now {res.status}.")
            self.load_campaign()

    def action_opt_out(self) -> None:
        cc = self._contact()
        if cc is None:
            return

        def done(yes: bool | None) -> None:
            if yes:
                self._opt_out(cc.phone)

        self.app.push_screen(ConfirmScreen(f"Opt out {cc.phone} of this campaign?",
                                           "No more messages of this campaign are sent to this contact.",
                                           yes="Opt out"), done)

    @work(group="cd-action", exit_on_error=False)
    async def _opt_out(self, phone: str) -> None:
        if await self.gw.do(P.OptOut(phone=phone, scope="campaign", campaign_id=self.campaign_id,
                                     reason="opted out from the console")):
            self.notify(f"{phone} opted out of this campaign.")
            self.load_contacts()

    def action_preview(self) -> None:
        if (cc := self._contact()) is not None:
            self._preview(cc)

    @work(group="cd-preview", exit_on_error=False)
    async def _preview(self, cc: CampaignContact) -> None:
        pv = await self.gw.call(P.ScriptPreview(contact=cc.phone, campaign_id=self.campaign_id), Preview)
        if pv is None:
            return
        t = Text()
        if pv.text is None:
            t.append(f"Cannot render: field {pv.missing_field!r} is missing for this contact.", style="red")
        else:
            t.append(pv.text + "\n\n")
            t.append(f"{pv.segments} segment(s) · {pv.encoding} · cost {pv.cost:.4f}", style="dim")
        self.app.push_screen(TextScreen(f"SMS preview — {cc.first_name or ''} {cc.last_name or ''} {cc.phone}", t))

    def action_export(self) -> None:
        self._export()

    @work(group="cd-export", exit_on_error=False)
    async def _export(self) -> None:
        r = await self.gw.call(P.CampaignReport(campaign_id=self.campaign_id, csv=True), Report)
        if r is None or r.csv is None:
            return
        path = Path(os.getcwd()) / f"campaign-{self.campaign_id}-report.csv"
        try:
            path.write_text(r.csv)
        except OSError as exc:
            self.notify(f"Cannot write {path}: {exc.strerror}", title="Export failed", severity="error")
            return
        self.notify(f"Report written to {path}", title="Exported")
