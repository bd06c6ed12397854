"""Typed views of the campaign, contact and report replies, as the TUI reads them.

The campaign ops answer with plain JSON objects whose keys are documented on each request
(``gatewayd.protocol.campaigns``) and in ``gatewayd.analytics.reports``. Decoding them into
these structs at the client edge means screens use attributes, missing keys get safe defaults and
unknown keys are ignored, so a newer daemon never breaks an older console.
"""

from __future__ import annotations

from typing import Any

import msgspec

ACTIVE_STATUSES = ["processing", "sending", "paused", "suspended", "finished", "stopped"]
TAB_STATUSES = {
    "active": ACTIVE_STATUSES,
    "scheduled": ["scheduled"],
    "draft": ["draft"],
    "archived": ["archived"],
}


class Campaign(msgspec.Struct, kw_only=True):
    id: int
    name: str
    status: str
    status_reason: str = ""
    script_id: int | None = None
    script: str | None = None
    list_id: int | None = None
    list_name: str | None = msgspec.field(default=None, name="list")
    number: str | None = None
    office: str = ""
    operated_by: str = "agent"
    tags: list[str] = []
    stop_on_reply: bool = False
    schedule_at: float | None = None
    cron: str | None = None
    tz: str = "UTC"
    next_run: float | None = None
    ttl_s: float | None = None
    quiet_start: str | None = None
    quiet_end: str | None = None
    hours: str | None = None
    variants: list[dict[str, Any]] = []
    defaults: dict[str, str] = {}
    description: str = ""
    created_by: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    launched_at: float | None = None
    finished_at: float | None = None
    actions: list[str] = []
    not_ready: list[str] | None = None
    checks: list[dict[str, Any]] | None = None      # content checks (issue 17)
    held_by: dict[str, int] = {}                    # waiting recipients by kind of hold
    recipients: dict[str, int] = {}
    budget: str | None = None           # a carrier budget its messages count against
    waiting: str | None = None          # why its queued messages are held (a spent budget)

    @property
    def recurring(self) -> bool:
        return bool(self.cron)


class ContactList(msgspec.Struct, kw_only=True):
    id: int
    name: str
    contacts: int = 0
    created_at: float = 0.0


class Contact(msgspec.Struct, kw_only=True):
    id: int
    phone: str
    first_name: str = ""
    last_name: str = ""
    fields: dict[str, Any] = {}
    created_at: float = 0.0


class CampaignContact(msgspec.Struct, kw_only=True):
    contact_id: int
    phone: str
    first_name: str | None = ""
    last_name: str | None = ""
    created_at: float = 0.0
    state: str | None = None
    step: int | None = None
    message_state: str | None = None
    failed_reason: str | None = None
    fields: dict[str, Any] = {}


class Suppression(msgspec.Struct, kw_only=True):
    id: int
    phone: str
    scope: str
    campaign_id: int | None = None
    number: str | None = None
    reason: str = ""
    source: str = "operator"
    created_at: float = 0.0
    created_by: str | None = None


class Script(msgspec.Struct, kw_only=True):
    id: int
    name: str
    type: str = "nudge"
    steps: list[dict[str, Any]] = []
    defaults: dict[str, str] = {}


class Preview(msgspec.Struct, kw_only=True):
    text: str | None = None
    missing_field: str | None = None
    encoding: str | None = None
    segments: int = 0
    units: int = 0
    cost: float = 0.0
    phone: str | None = None


class ImportResult(msgspec.Struct, kw_only=True):
    imported: int = 0
    merged: int = 0
    invalid: list[dict[str, Any]] = []


class SendStatus(msgspec.Struct, kw_only=True):
    total: int = 0
    succeeded: int = 0
    failed: int = 0
    pending: int = 0
    unreachable: int = 0
    ignored: int = 0


class Engagement(msgspec.Struct, kw_only=True):
    contacts_sent: int = 0
    contacts_responded: int = 0
    opt_outs: int = 0
    rate: float = 0.0


class Responses(msgspec.Struct, kw_only=True):
    contact: int = 0
    agent: int = 0
    assistant: int = 0
    median_agent_response_s: float | None = None


class Bucket(msgspec.Struct, kw_only=True):
    label: str
    start: float = 0.0
    sent: int = 0
    received: int = 0


class Activity(msgspec.Struct, kw_only=True):
    bucket: str = "hour"
    tz: str = "UTC"
    series: list[Bucket] = []


class Performance(msgspec.Struct, kw_only=True):
    segments: dict[str, int] = {}
    messages: dict[str, int] = {}
    total_segments: int = 0
    cost: float = 0.0


class Report(msgspec.Struct, kw_only=True):
    campaign_id: int
    name: str = ""
    status: str = ""
    send_status: SendStatus = msgspec.field(default_factory=SendStatus)
    engagement: Engagement = msgspec.field(default_factory=Engagement)
    responses: Responses = msgspec.field(default_factory=Responses)
    activity: Activity = msgspec.field(default_factory=Activity)
    performance: Performance = msgspec.field(default_factory=Performance)
    csv: str | None = None
