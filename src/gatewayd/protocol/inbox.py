"""Inbox and conversation requests and views (issue 6).

A conversation is one contact with one of our numbers. Sections are derived, never stored:
``needs_attention`` when flagged, else by who operates it (``agent`` / ``assistant``).
Paging is keyset-based (``before`` = the ``next_before`` of the previous page), so it stays fast
and stable while new messages arrive.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from ..models import Role
from .base import Request

Section = Literal["needs_attention", "agent", "assistant"]
OperatedBy = Literal["agent", "assistant"]

# ---- requests -------------------------------------------------------------------------------


class InboxList(Request, tag="inbox_list"):
    """Conversations the caller may see, most recent first. Returns :class:`ConversationPage`."""

    section: Section | None = None
    tags: list[str] | None = None        # any of these tags
    search: str | None = None            # first name, last name or phone (substring, 3+ chars)
    campaign_id: int | None = None
    number: str | None = None
    assignee: str | None = None
    unread_only: bool = False
    status: Literal["open", "closed", "all"] = "open"
    before: str | None = None
    limit: int = 50
    counts: bool = True                  # False: skip the per-section counts (next pages)


class InboxShow(Request, tag="inbox_show"):
    """One conversation and a page of its thread (both directions). Returns :class:`ConversationDetail`."""

    conversation_id: int
    before: str | None = None
    limit: int = 50


class InboxReply(Request, tag="inbox_reply"):
    """An operator's reply, sent at interactive priority (ahead of campaign bulk)."""

    conversation_id: int
    text: str


class InboxTag(Request, tag="inbox_tag"):
    conversation_id: int
    tag: str


class InboxUntag(Request, tag="inbox_untag"):
    conversation_id: int
    tag: str


class InboxAssign(Request, tag="inbox_assign"):
    """Put the conversation in ``user``'s personal inbox (None: unassign)."""

    conversation_id: int
    user: str | None = None


class InboxAssignees(Request, tag="inbox_assignees"):
    """Who the caller may assign conversations to, so clients offer a choice instead of a typed
    name: admins and agents of ``[access]`` (viewers cannot operate conversations), only those
    sharing an office with a non-admin caller, only the caller for a limited one. Returns a list
    of :class:`AssigneeView`, by user name."""


class InboxOperatedBy(Request, tag="inbox_operated_by"):
    conversation_id: int
    operated_by: OperatedBy


class InboxAttention(Request, tag="inbox_attention"):
    conversation_id: int
    on: bool


class InboxRead(Request, tag="inbox_read"):
    """Mark read (``read=True``) or unread."""

    conversation_id: int
    read: bool = True


class InboxOptOut(Request, tag="inbox_opt_out"):
    """Opt the contact out by hand. Scope defaults to the attributed campaign, else the number."""

    conversation_id: int
    scope: Literal["campaign", "number", "all"] | None = None
    reason: str = ""


class InboxKeywordSet(Request, tag="inbox_keyword_set"):
    """Admin: the assistant answers ``keyword`` (the whole message) with ``reply``; on one
    number, or on every number when ``number`` is omitted."""

    keyword: str
    reply: str
    number: str | None = None


class InboxKeywordRemove(Request, tag="inbox_keyword_remove"):
    keyword: str
    number: str | None = None


class InboxKeywords(Request, tag="inbox_keywords"):
    """The configured keyword auto-replies. Returns a list of :class:`AutoReplyView`."""


# ---- views ----------------------------------------------------------------------------------


class ConversationView(msgspec.Struct, kw_only=True):
    id: int
    number: str
    phone: str
    contact_id: int | None
    first_name: str
    last_name: str
    campaign_id: int | None
    office: str | None
    inbox: list[str]
    assignee: str | None
    operated_by: OperatedBy
    section: Section
    needs_attention: bool
    attention_reason: str | None
    unread: int
    status: Literal["open", "closed"]
    opted_out: bool
    tags: list[str]
    last_text: str
    last_direction: Literal["in", "out"] | None
    last_message_at: float
    created_at: float
    updated_at: float


class ThreadItem(msgspec.Struct, kw_only=True):
    """One message of a thread. ``status`` is what the operator sees: received, pending, sent
    (delivered unconfirmed), delivered (confirmed), undelivered or failed (with the reason)."""

    direction: Literal["in", "out"]
    id: int
    at: float
    text: str
    status: str
    state: str | None = None             # the queue state of an outbound message
    error_code: str | None = None
    error_text: str | None = None
    source: str | None = None            # agent / assistant / campaign / api
    created_by: str | None = None


class AnswerView(msgspec.Struct, kw_only=True):
    step: int | None
    question: str | None
    value: str | None
    raw: str
    valid: bool
    reason: str | None
    at: float


class ConversationPage(msgspec.Struct):
    items: list[ConversationView]
    counts: dict[str, int]               # per section, same filters (a TUI hides empty sections); zeros
                                         # when the request asked for no counts
    next_before: str | None


class ConversationDetail(msgspec.Struct):
    conversation: ConversationView
    messages: list[ThreadItem]           # oldest first within the page
    next_before: str | None              # older messages: pass as ``before``
    answers: list[AnswerView]


class AssigneeView(msgspec.Struct, kw_only=True):
    user: str
    role: Role
    offices: list[str]                   # for a non-admin caller, only the offices they share
    limited: bool = False


class AutoReplyView(msgspec.Struct, kw_only=True):
    keyword: str
    number: str | None
    reply: str
    updated_at: float
    created_by: str | None


__all__ = [
    "InboxList", "InboxShow", "InboxReply", "InboxTag", "InboxUntag", "InboxAssign", "InboxOperatedBy",
    "InboxAttention", "InboxRead", "InboxOptOut", "ConversationView", "ThreadItem", "AnswerView",
    "ConversationPage", "ConversationDetail", "InboxKeywordSet", "InboxKeywordRemove", "InboxKeywords",
    "AutoReplyView", "InboxAssignees", "AssigneeView",
]
