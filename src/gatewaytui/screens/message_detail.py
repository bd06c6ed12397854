"""One message: its text, state, segments (carrier ids, receipts) and state history.

Opened with Enter from any message list. Cancel (queued only) and retry (final failures) are
agent actions; cancel asks first because it cannot be undone. The view reloads itself when a live
batch mentions this message, so a receipt arriving while it is open shows up at once.
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Label, Static

from gatewayd import protocol as P
from gatewayd.models import Role

from ..widgets.format import full_time, state_text, when
from .base import ReportsWorkerErrors
from .modals import ConfirmScreen

_RETRYABLE = {"failed", "undelivered", "expired", "ignored", "cancelled"}


class MessageDetailScreen(ReportsWorkerErrors, ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q", "close", "Close"),
        Binding("x", "cancel_message", "Cancel msg"),
        Binding("r", "retry", "Retry"),
    ]

    def __init__(self, message_id: int) -> None:
        super().__init__(classes="modal")
        self.message_id = message_id
        self.detail: P.MessageDetail | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide", id="message-detail"):
            yield Label(f"Message {self.message_id}", classes="dialog-title", id="md-title")
            with VerticalScroll():
                yield Static("loading…", id="md-summary")
                yield Label("Segments", classes="section")
                yield DataTable(id="md-segments", cursor_type="row")
                yield Label("History", classes="section")
                yield DataTable(id="md-history", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#md-segments", DataTable).add_columns("#", "State", "Carrier id", "Link", "Submitted",
                                                              "Done", "DLR", "Error")
        self.query_one("#md-history", DataTable).add_columns("At", "State", "Detail")
        self.load()

    @work(exclusive=True, group="message-detail", exit_on_error=False)
    async def load(self) -> None:
        detail = await self.app.call(P.GetMessage(message_id=self.message_id), P.MessageDetail)  # type: ignore[attr-defined]
        if detail is None:
            return
        self.detail = detail
        m = detail.message
        t = Text()
        t.append_text(state_text(m.state.value))
        if m.possible_duplicate:
            t.append("  ⚠ possible duplicate", style="bold yellow")
        t.append(f"\nfrom {m.sender} to {m.recipient} · {m.priority} · {m.encoding} · {m.segments} segment(s)")
        t.append(f"\ncreated {full_time(m.created_at)} · updated {full_time(m.updated_at)}")
        if m.expires_at:
            t.append(f" · expires {full_time(m.expires_at)}")
        t.append(f"\nattempts {m.attempts} · link {m.link or '—'}")
        if m.key:
            t.append(f" · key {m.key}")
        if m.campaign_id is not None:
            t.append(f" · campaign {m.campaign_id}")
        if m.error_code or m.error_text:
            t.append(f"\nreason: {m.error_code or ''} {m.error_text or ''}".rstrip(), style="red")
        t.append("\n\n")
        t.append(m.text)
        self.query_one("#md-summary", Static).update(t)
        segs = self.query_one("#md-segments", DataTable)
        segs.clear()
        for s in detail.segments:
            err = " ".join(x for x in (s.error_code, s.error_text) if x)
            segs.add_row(str(s.index), state_text(s.state), s.carrier_id or "—", s.link or "—",
                         when(s.submitted_at), when(s.done_at), s.receipt_stat or "", err)
        hist = self.query_one("#md-history", DataTable)
        hist.clear()
        for h in detail.history:
            hist.add_row(when(h.at), state_text(h.state), h.detail)
        self.refresh_bindings()

    def on_live_batch(self, msg) -> None:
        if self.message_id in msg.batch.message_states:
            self.load()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("cancel_message", "retry"):
            if not self.app.can(Role.AGENT):  # type: ignore[attr-defined]
                return False
            state = self.detail.message.state.value if self.detail else None
            if action == "cancel_message":
                return state == "queued" or None
            return state in _RETRYABLE or None
        return True

    def action_close(self) -> None:
        self.dismiss(None)

    def action_cancel_message(self) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self._do(P.Cancel(message_id=self.message_id), "cancelled")

        self.app.push_screen(ConfirmScreen(f"Cancel message {self.message_id}?",
                                           "It will not be sent. This cannot be undone (you can send it again).",
                                           yes="Cancel message"), answered)

    def action_retry(self) -> None:
        self._do(P.Retry(message_id=self.message_id), "queued again")

    @work(group="message-action", exit_on_error=False)
    async def _do(self, req: P.Request, what: str) -> None:
        if await self.app.do(req):  # type: ignore[attr-defined]
            self.notify(f"Message {self.message_id} {what}.")
            self.load()
