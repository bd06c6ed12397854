"""Campaign, script and contact requests (issue 5).

Replies are plain JSON objects with the stable keys documented on each request (and, for
reports, in ``gatewayd.analytics.reports``). Times are epoch seconds; phones are E.164.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from .base import Request

__all__ = [
    "ContactsImport", "ContactsList", "ContactsFields", "ListsList", "OptOut", "OptIn", "Suppressions",
    "ScriptCreate", "ScriptShow", "ScriptList", "ScriptPreview",
    "CampaignFields", "CampaignCreate", "CampaignEdit", "CampaignAction", "CampaignShow", "CampaignList",
    "CampaignReport", "CampaignContacts", "PerformanceReport", "CAMPAIGN_ACTIONS",
]

CAMPAIGN_ACTIONS = ("launch", "pause", "resume", "stop", "archive", "clone")


# ---- contacts ------------------------------------------------------------------------------


class ContactsImport(Request, tag="contacts_import"):
    """One chunk of a CSV import into ``list`` (created if new). ``first_row`` is the file row
    number of ``rows[0]`` (header = row 1). Returns ``{list, imported, merged, invalid: [{row,
    reason}]}``."""

    list_name: str = msgspec.field(name="list")
    header: list[str]
    rows: list[list[str]]
    first_row: int = 2
    region: str | None = None
    source_file: str | None = None      # the CSV's name: consent evidence is "FILE row N"


class ContactsList(Request, tag="contacts_list"):
    """Contacts in id order after ``after_id``; ``search`` matches names and phone."""

    list_name: str | None = msgspec.field(default=None, name="list")
    search: str | None = None
    after_id: int = 0
    limit: int = 100


class ContactsFields(Request, tag="contacts_fields"):
    """The extra field names used by a list's contacts (export columns)."""

    list_name: str | None = msgspec.field(default=None, name="list")


class ListsList(Request, tag="lists"):
    """Every contact list with its size."""


class OptOut(Request, tag="opt_out"):
    """Suppress a phone by hand. ``scope`` campaign needs ``campaign_id``; number needs ``number``."""

    phone: str
    scope: Literal["campaign", "number", "all"] = "all"
    campaign_id: int | None = None
    number: str | None = None
    reason: str = ""


class OptIn(Request, tag="opt_in"):
    """Lift suppressions (all of them when neither ``number`` nor ``campaign_id``; admin only)."""

    phone: str
    number: str | None = None
    campaign_id: int | None = None
    evidence: str = ""                  # consent ledger: e.g. "signed form #1234"
    at: str | None = None               # when consent was given (ISO-8601); default now


class Suppressions(Request, tag="suppressions"):
    phone: str | None = None
    limit: int = 100
    before_id: int | None = None


# ---- scripts -------------------------------------------------------------------------------


class ScriptCreate(Request, tag="script_create"):
    """``steps``: ``[{"text", "delay_s", "question": null|"yes_no"|"choice"|"open", "choices"}]``."""

    name: str
    type: Literal["nudge", "interactive"] = "nudge"
    steps: list[dict[str, Any]] = []
    defaults: dict[str, str] = {}


class ScriptShow(Request, tag="script_show"):
    script: str


class ScriptList(Request, tag="script_list"):
    pass


class ScriptPreview(Request, tag="script_preview"):
    """Render a step for one contact (phone or id): text, encoding, segments, cost. Give a
    ``campaign_id`` to use its script, defaults and number's price, or a ``script``."""

    contact: str
    script: str | None = None
    campaign_id: int | None = None
    step: int = 1


# ---- campaigns -----------------------------------------------------------------------------


class CampaignFields(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Settable campaign fields; ``None`` leaves a field unset (edit) or empty (create)."""

    name: str | None = None
    script: str | None = None           # id or name
    list_name: str | None = msgspec.field(default=None, name="list")
    number: str | None = None
    office: str | None = None
    operated_by: Literal["agent", "assistant"] | None = None
    tags: list[str] | None = None
    stop_on_reply: bool | None = None
    at: str | None = None               # ISO-8601; naive times are in ``tz``
    cron: str | None = None
    tz: str | None = None
    ttl_s: float | None = None
    quiet_start: str | None = None      # "21:00"
    quiet_end: str | None = None        # "08:00"
    hours: str | None = None            # sending-hours rule set ("us"; "none": no rule set)
    variants: list[dict[str, Any]] | None = None   # [{"script": NAME_OR_ID, "weight": 30}]
    defaults: dict[str, str] | None = None
    description: str | None = None
    budget: str | None = None           # a [[budgets]] name its messages count against ("" clears)
    require_consent: bool | None = None  # contacts without a valid opt-in become unreachable


class CampaignCreate(Request, tag="campaign_create"):
    """Create a draft (``launch`` true: launch it in the same request). Returns the campaign."""

    fields: CampaignFields
    launch: bool = False


class CampaignEdit(Request, tag="campaign_edit"):
    campaign_id: int
    fields: CampaignFields


class CampaignAction(Request, tag="campaign_action"):
    """launch | pause | resume | stop | archive | clone. Returns the (new, for clone) campaign."""

    campaign_id: int
    action: Literal["launch", "pause", "resume", "stop", "archive", "clone"]


class CampaignShow(Request, tag="campaign_show"):
    campaign_id: int


class CampaignList(Request, tag="campaign_list"):
    """Search by name, filter by status(es) and tag; most recently updated first. Rows are
    ``campaign_show``'s without recipient counts: with ``list`` (the contact list's name) and, for
    drafts, ``not_ready`` (every reason it cannot launch; empty when it can)."""

    status: list[str] | None = None
    tag: str | None = None
    search: str | None = None
    limit: int = 200


class CampaignReport(Request, tag="campaign_report"):
    """Analytics of one campaign (keys in ``gatewayd.analytics.reports``); ``csv`` adds a CSV text."""

    campaign_id: int
    csv: bool = False


class CampaignContacts(Request, tag="campaign_contacts"):
    """The campaign's recipients with their step, state and last message status."""

    campaign_id: int
    state: str | None = None
    after_id: int = 0
    limit: int = 100


class PerformanceReport(Request, tag="performance_report"):
    """Segments by state and cost, filterable by time, number, link and campaign."""

    since: float | None = None
    until: float | None = None
    number: str | None = None
    link: str | None = None
    campaign_id: int | None = None
    csv: bool = False
