"""Contacts: waits for the daemon's contacts ops (placeholder until they land)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from .base import GatewayScreen


class ContactsScreen(GatewayScreen):
    MODE = "contacts"

    def compose_body(self) -> ComposeResult:
        yield Static("Contacts: this daemon does not offer these operations yet.", classes="empty")
