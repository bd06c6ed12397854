"""Core requests and views: identity, status, the send queue, events, backup."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from ..models import LinkState, MsgState, Role, SegmentInfo
from .base import Request

# ---- requests -------------------------------------------------------------------------------


class Hello(Request, tag="hello"):
    """Who am I? Returns :class:`Identity`."""


class Status(Request, tag="status"):
    """Links, numbers, queue counts and rates. Returns :class:`StatusView`."""


class SendItem(msgspec.Struct, kw_only=True):
    sender: str = msgspec.field(name="from")
    to: str
    text: str
    key: str | None = None
    priority: Literal["interactive", "transactional", "bulk"] = "transactional"
    ttl_s: float | None = None
    #: True: a message the contact must get (a code, a receipt), sent even to one who opted out;
    #: recorded in the audit log. None/False: opt-outs of scope all (or this number) block it.
    transactional: bool | None = None


class Send(Request, tag="send"):
    """Enqueue one message; committed before the reply. Returns :class:`MessageView`."""

    sender: str = msgspec.field(name="from")
    to: str
    text: str
    key: str | None = None
    priority: Literal["interactive", "transactional", "bulk"] = "transactional"
    ttl_s: float | None = None
    transactional: bool | None = None     # see SendItem.transactional

    def item(self) -> SendItem:
        return SendItem(sender=self.sender, to=self.to, text=self.text, key=self.key,
                        priority=self.priority, ttl_s=self.ttl_s, transactional=self.transactional)


class SendBatch(Request, tag="send_batch"):
    """Enqueue many in one transaction. Returns :class:`BatchResult` (per-item errors)."""

    messages: list[SendItem]


class GetMessage(Request, tag="get_message"):
    message_id: int


class ListMessages(Request, tag="list_messages"):
    """Newest first. Page with ``before_id`` = the last id of the previous page."""

    state: MsgState | None = None
    sender: str | None = None
    recipient: str | None = None
    campaign_id: int | None = None
    since: float | None = None
    until: float | None = None
    before_id: int | None = None
    limit: int = 50


class Cancel(Request, tag="cancel"):
    message_id: int


class Retry(Request, tag="retry"):
    message_id: int


class Analyse(Request, tag="analyse"):
    """Encoding and segment count of a text (compose counters). Returns SegmentInfo."""

    text: str


class Subscribe(Request, tag="subscribe"):
    """Turn this connection into an event stream, replaying from ``since`` (exclusive).
    ``since=None`` starts at the live end; ``since=0`` replays everything retained."""

    since: int | None = None
    types: list[str] | None = None      # prefixes, e.g. ["message.", "link."]


class Backup(Request, tag="backup"):
    """Online, consistent copy of the database to ``path`` (written by the daemon's user)."""

    path: str


class ListReceipts(Request, tag="list_receipts"):
    """Receipts that matched no message (kept, never dropped)."""

    unmatched: bool = True
    limit: int = 50


class SetEnabled(Request, tag="set_enabled"):
    """Enable or disable a link or a number at run time (admin)."""

    kind: Literal["link", "number"]
    name: str
    enabled: bool


class AuditQuery(Request, tag="audit"):
    """Who changed what over the socket (admins see all, others their own entries)."""

    since: float | None = None
    user: str | None = None
    limit: int = 100


# ---- views ----------------------------------------------------------------------------------


class Identity(msgspec.Struct):
    user: str
    uid: int
    role: Role
    offices: list[str]
    limited: bool
    version: str
    max_line_bytes: int | None = None    # longest request line the daemon takes (clients size batches)


class LinkView(msgspec.Struct):
    name: str
    kind: str
    state: LinkState
    reason: str
    enabled: bool
    window: int                        # in force now (an SMPP bind shrinks it on ESME_RMSGQFUL)
    in_flight: int
    rate: float | None                 # the rate learned from the carrier's answers, segments/s; None: unlimited
    detail: dict[str, Any]
    sent_last_min: int = 0
    price_per_segment: float = 0.0
    max_window: int | None = None      # configured ``window``
    max_rate: float | None = None      # configured ``max_rate`` (the learned rate's cap)


class NumberView(msgspec.Struct):
    address: str
    links: list[str]
    rate: float
    burst: int
    daily_cap: int | None
    used_today: int
    enabled: bool
    reusable: bool
    office: str


class BudgetView(msgspec.Struct):
    """A carrier budget (config ``[[budgets]]``): limits, use in each window, what is left now."""

    name: str
    per_second: int | None
    per_minute: int | None
    per_day: int | None
    tz: str
    used_second: int | None
    used_minute: int | None
    used_today: int | None
    remaining: int                      # segments that may go right now (the tightest window)
    refills_in_s: float                 # until one more segment may go (0: now)
    numbers: list[str]
    waiting: list[str] = []             # numbers held by it with work ready


class StatusView(msgspec.Struct):
    version: str
    started_at: float
    links: list[LinkView]
    numbers: list[NumberView]
    queue: dict[str, int]              # message counts by state
    segments: dict[str, int]           # segment counts by state
    sent_per_s: float                  # last 60 s
    delivered_per_s: float
    inbound_total: int
    unmatched_receipts: int
    last_cursor: int
    budgets: list[BudgetView] = []


class MessageView(msgspec.Struct, kw_only=True):
    id: int
    key: str | None
    sender: str
    recipient: str
    text: str
    state: MsgState
    priority: str
    encoding: str
    segments: int
    created_at: float
    updated_at: float
    expires_at: float | None
    attempts: int
    link: str | None
    error_code: str | None
    error_text: str | None
    possible_duplicate: bool
    campaign_id: int | None = None
    duplicate_of_key: bool = False      # true when an idempotency key returned an existing message


class SegmentView(msgspec.Struct):
    index: int
    state: str
    carrier_id: str | None
    link: str | None
    submitted_at: float | None
    done_at: float | None
    receipt_stat: str | None
    error_code: str | None
    error_text: str | None


class HistoryEntry(msgspec.Struct):
    at: float
    state: str
    detail: str


class MessageDetail(msgspec.Struct):
    message: MessageView
    segments: list[SegmentView]
    history: list[HistoryEntry]


class MessagePage(msgspec.Struct):
    items: list[MessageView]
    next_before_id: int | None


class BatchItemResult(msgspec.Struct, omit_defaults=True):
    index: int
    message_id: int | None = None
    duplicate: bool = False
    error: str | None = None
    code: str | None = None


class BatchResult(msgspec.Struct):
    accepted: int
    duplicates: int
    rejected: int
    items: list[BatchItemResult]


class AuditEntry(msgspec.Struct):
    id: int
    at: float
    user: str
    role: str
    op: str
    target: str
    ok: bool
    error: str | None


class ReceiptView(msgspec.Struct):
    id: int
    link: str
    carrier_id: str
    stat: str
    err: str | None
    received_at: float
    raw: str


__all__ = [n for n in dir() if n[:1].isupper() and n not in {"Any", "Literal", "Request", "LinkState", "MsgState", "Role"}] + ["SegmentInfo"]
