"""Inbox: waits for the daemon's inbox ops (placeholder until they land)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from .base import GatewayScreen


class InboxScreen(GatewayScreen):
    MODE = "inbox"

    def compose_body(self) -> ComposeResult:
        yield Static("Inbox: this daemon does not offer these operations yet.", classes="empty")
