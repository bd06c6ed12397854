"""Inbox: triage across every campaign and unsolicited inbox the user may see (seed 001, §6).

The screen is a frame around :class:`InboxPanel`; live batches reach the panel, which reloads the
open thread at once and the list at most once a second.
"""

from __future__ import annotations

from textual.app import ComposeResult

from ..widgets.inbox_panel import InboxPanel
from .base import GatewayScreen


class InboxScreen(GatewayScreen):
    MODE = "inbox"

    def compose_body(self) -> ComposeResult:
        yield InboxPanel(id="inbox-panel")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#ib-list").focus()

    def reload(self) -> None:
        self.query_one(InboxPanel).reload()

    def on_live_batch(self, msg) -> None:
        self.query_one(InboxPanel).on_live(msg.batch)
