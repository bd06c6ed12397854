"""Campaigns: waits for the daemon's campaigns ops (placeholder until they land)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from .base import GatewayScreen


class CampaignsScreen(GatewayScreen):
    MODE = "campaigns"

    def compose_body(self) -> ComposeResult:
        yield Static("Campaigns: this daemon does not offer these operations yet.", classes="empty")
